// Break-glass: at once, flagged, audited, reviewed afterwards by someone else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
});
afterAll(() => ajar?.stop());

describe('break-glass', () => {
  it('is used only when asked for, grants at once for a short maximum, and is flagged', async () => {
    // Without --break-glass the emergency rule does not apply: main needs a normal rule.
    const normal = await ajar.cli(['request', '-r', 'git:payments:main', '-a', 'push', '--reason', 'prod is down'], { as: 'alice' });
    expect(normal.code).toBe(2);
    expect(normal.stderr).toContain('no policy rule lets alice request push on git:payments:main');
    const tooLong = await ajar.cli(['request', '--break-glass', '-r', 'git:payments:main', '-a', 'push', '-d', '2h', '--reason', 'prod is down'], { as: 'alice' });
    expect(tooLong.stderr).toContain('longer than the 1h the policy allows');

    const r = await ajar.json(['request', '--break-glass', '-r', 'git:payments:main', '-a', 'push', '--reason', 'INC-99 prod is down'], { as: 'alice' });
    expect(r).toMatchObject({ state: 'approved', rules: ['emergency-push'], durationSeconds: 1800 });
    expect((await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:main'])).code).toBe(0);
    const g = await ajar.json(['grants', r.grantId], { as: 'alice' });
    expect(g).toMatchObject({ breakGlass: true, review: { open: true, closedBy: null } });
    const used = await ajar.json(['audit', '--type', 'breakglass.used']);
    expect(used.at(-1)).toMatchObject({ subject: 'alice', grantId: r.grantId, reason: 'INC-99 prod is down' });
  });

  it('stays under review until an admin other than its user closes it', async () => {
    const open = await ajar.json(['breakglass'], { as: 'carol' });
    expect(open).toHaveLength(1);
    const id = open[0].id;
    expect((await ajar.cli(['breakglass'], { as: 'alice' })).stderr).toContain('needs an Ajar admin');
    expect((await ajar.cli(['breakglass', 'close', id, '--note', 'fine'], { as: 'bob' })).code).toBe(2);
    const closed = await ajar.json(['breakglass', 'close', id, '--note', 'INC-99 reviewed: hotfix 4f2a was correct'], { as: 'carol' });
    expect(closed.review).toMatchObject({ open: false, closedBy: 'carol', note: 'INC-99 reviewed: hotfix 4f2a was correct' });
    expect(await ajar.json(['breakglass'], { as: 'carol' })).toEqual([]);
    expect(await ajar.json(['breakglass', '--state', 'closed'], { as: 'carol' })).toHaveLength(1);
    const again = await ajar.cli(['breakglass', 'close', id, '--note', 'x'], { as: 'carol' });
    expect(again.stderr).toContain('was closed by carol');
    expect((await ajar.json(['audit', '--type', 'breakglass.reviewed'])).at(-1)).toMatchObject({ actor: 'carol', grantId: id });
  });

  it('an admin cannot close the review of their own break-glass use', async () => {
    const { readFileSync } = await import('node:fs');
    const { EXAMPLE_CONFIG } = await import('./support/ajar.js');
    const own = await startAjar({ config: readFileSync(EXAMPLE_CONFIG, 'utf8').replace('  carol: { groups: [security]', '  carol: { groups: [security, eng]') });
    try {
      const r = await own.json(['request', '--break-glass', '-r', 'git:payments:main', '-a', 'push', '--reason', 'x'], { as: 'carol' });
      const self = await own.cli(['breakglass', 'close', r.grantId, '--note', 'all good'], { as: 'carol' });
      expect(self.code).toBe(2);
      expect(self.stderr).toContain('someone other than the person who used break-glass');
    } finally {
      await own.stop();
    }
  });
});

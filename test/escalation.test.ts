// Escalation: no decision within the stage's time → the next tier may decide.
// Computed from stored times, so it holds across restarts; the clock is set, not waited for.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const config = readFileSync(EXAMPLE_CONFIG, 'utf8').replace(
  '      approval: { groups: [leads], count: 1 }\n',
  '      approval: { groups: [leads], count: 1, escalate: { after: 2h, groups: [security] } }\n',
);

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('escalate: { after: 2h');
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

describe('escalation', () => {
  it('security may decide only once the leads have left it undecided for 2h, across a restart', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/4', '-a', 'push', '--reason', 'release'], { as: 'alice' });
    const early = await ajar.cli(['approve', r.id], { as: 'carol' });
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('not an approver');
    expect(early.stderr).toContain('after 120m also group security');
    expect((await ajar.json(['requests', '--review'], { as: 'carol' })).map((x: any) => x.id)).not.toContain(r.id);

    await ajar.stop();
    ajar.advance(2 * 3600);
    await ajar.start();
    expect((await ajar.json(['requests', '--review'], { as: 'carol' })).map((x: any) => x.id)).toContain(r.id);
    const ok = await ajar.json(['approve', r.id], { as: 'carol' });
    expect(ok.request.state).toBe('approved');
  });

  it('explain tells when a stage escalates and to whom', async () => {
    const e = await ajar.cli(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/5'], { as: 'alice' });
    expect(e.stdout).toContain('no decision after 2h: also group security');
  });
});

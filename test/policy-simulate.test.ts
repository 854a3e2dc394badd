// `ajar policy simulate`: what a policy change would have done to the requests
// already recorded.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

let ajar: Ajar;
const ids: Record<string, string> = {};
beforeAll(async () => {
  ajar = await startAjar({ clock: '2026-11-01T09:00:00Z' });
  ids.old = (await ajar.json(['request', '-r', 'git:payments:feature/old', '-a', 'push', '--reason', 'long ago'], { as: 'erin' })).id;
  ajar.setClock('2026-11-20T09:00:00Z');
  ids.release = (await ajar.json(['request', '-r', 'git:payments:release/1', '-a', 'push', '-d', '2h', '--reason', 'r'], { as: 'alice' })).id;
  ids.feature = (await ajar.json(['request', '-r', 'git:payments:feature/f', '-a', 'push', '--reason', 'f'], { as: 'erin' })).id;
  ids.read = (await ajar.json(['request', '-r', 'git:payments', '-a', 'read', '--reason', 'q'], { as: 'dave' })).id;
  ajar.setClock('2026-11-23T09:00:00Z');
});
afterAll(() => ajar?.stop());

describe('policy simulate', () => {
  it('lists what would change, request by request, over the chosen period only', async () => {
    const next = readFileSync(EXAMPLE_CONFIG, 'utf8')
      // release pushes: now auto-approved, but for 1h at most
      .replace('      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads], count: 1 }', '      default_duration: 1h\n      max_duration: 1h\n      approval: auto')
      // feature branches: now need a lead
      .replace('      max_duration: 8h\n      approval: auto\n\n    # Developers', '      max_duration: 8h\n      approval: { groups: [leads] }\n\n    # Developers')
      // QA loses read access
      .replace('    - name: qa-read\n      who: { users: [dave] }', '    - name: qa-read\n      who: { users: [] }');
    const file = join(ajar.dataDir, '..', 'next.yaml');
    writeFileSync(file, next);
    const s = await ajar.json(['policy', 'simulate', file, '--since', '7d']);
    expect(s).toMatchObject({ requests: 3, changed: 3, summary: { newlyRefused: 1, nowAuto: 1, nowReviewed: 1, durationTooLong: 1, otherApprovers: 0 } });
    const by = Object.fromEntries(s.changes.map((c: any) => [c.id, c.changes]));
    expect(by[ids.release]).toEqual(['would be auto-approved instead of reviewed', 'asked 2h, more than the new maximum 1h']);
    expect(by[ids.feature]).toEqual(['would need review instead of auto-approval']);
    expect(by[ids.read]).toEqual(['would be refused: no policy rule lets dave request read on git:payments']);
    expect(by[ids.old]).toBeUndefined();
    const human = await ajar.cli(['policy', 'simulate', file, '--since', '30d']);
    expect(human.stdout).toContain('4 request(s)');
    expect(human.stdout).toContain(ids.release);
  });

  it('the same policy changes nothing', async () => {
    const s = await ajar.json(['policy', 'simulate', ajar.configFile, '--since', '30d']);
    expect(s).toMatchObject({ requests: 4, changed: 0, changes: [] });
  });

  it('an invalid new policy is refused with its problems; only admins may simulate', async () => {
    const file = join(ajar.dataDir, '..', 'broken.yaml');
    writeFileSync(file, readFileSync(EXAMPLE_CONFIG, 'utf8').replace('approval: auto', 'approval: sometimes'));
    const r = await ajar.cli(['policy', 'simulate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the new policy is invalid');
    expect(r.stderr).toMatch(/broken\.yaml:\d+:\d+/);
    expect((await ajar.cli(['policy', 'simulate', ajar.configFile], { as: 'alice' })).stderr).toContain('needs an Ajar admin');
  });
});

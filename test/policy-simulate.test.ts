// `ajar policy simulate`: what a policy change would have done to the requests
// already recorded.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

  it('replays automatic rules and conditional stages at the recorded times, with the recorded ticket', async () => {
    // Friday 2026-11-20 in Berlin: 18:30 is after hours, 11:00 is not.
    ajar.setClock('2026-11-20T17:30:00Z');
    ids.evening = (await ajar.json(['request', '-r', 'git:payments:release/3', '-a', 'push', '--reason', 'late fix'], { as: 'erin' })).id;
    ajar.setClock('2026-11-20T10:00:00Z');
    ids.ops = (await ajar.json(['request', '-r', 'git:payments:release/4', '-a', 'push', '--ticket', 'OPS-1', '--reason', 'ops'], { as: 'erin' })).id;
    ajar.setClock('2026-11-23T09:00:00Z'); // Monday 10:00 in Berlin: in work hours now, unlike the evening request
    const dir = join(ajar.dataDir, '..', 'cel');
    mkdirSync(dir);
    writeFileSync(join(dir, 'oncall.yml'), 'rotations:\n  payments-lead:\n    shifts:\n      - { user: bob, from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z" }\n');
    const automatic = `  automatic:
    - name: payments-team-in-work-hours
      decision: approve
      when: '"team" in requester.attributes && requester.attributes["team"] == "payments" && time.weekday <= 5 && time.hour >= 9 && time.hour < 18'
    - name: no-weekends
      decision: deny
      reason: nothing changes on weekends
      when: time.weekday > 5
    - name: no-ops-tickets
      decision: deny
      when: request.ticket.startsWith("OPS-")
`;
    const next = readFileSync(EXAMPLE_CONFIG, 'utf8')
      .replace('  pending_ttl: 24h\n', `  pending_ttl: 24h\n  timezone: Europe/Berlin\n  oncall_file: oncall.yml\n${automatic}`)
      .replace(
        '      approval: { groups: [leads], count: 1 }\n',
        '      approval:\n        stages:\n          - { groups: [leads], count: 1 }\n          - { oncall: [payments-lead], count: 1, when: "time.weekday > 5 || time.hour < 9 || time.hour >= 18" }\n',
      );
    expect(next).toContain('oncall: [payments-lead]');
    expect(next).toContain('name: no-ops-tickets');
    writeFileSync(join(dir, 'ajar.yaml'), next);
    const s = await ajar.json(['policy', 'simulate', join(dir, 'ajar.yaml'), '--since', '30d']);
    expect(s).toMatchObject({ replayed: 'config', requests: 6, changed: 4, summary: { nowAutoDenied: 2, nowAuto: 1, otherApprovers: 1, newlyRefused: 0, nowReviewed: 0 } });
    const by = Object.fromEntries(s.changes.map((c: any) => [c.id, c.changes]));
    expect(by).toEqual({
      // Sunday 2026-11-01
      [ids.old]: ['would be auto-denied by rule no-weekends (nothing changes on weekends)'],
      // alice is on the payments team; Friday 10:00 in Berlin
      [ids.release]: ['would be auto-approved by rule payments-team-in-work-hours instead of reviewed'],
      [ids.evening]: ['would also need 1 of on-call payments-lead (rule release-push)'],
      [ids.ops]: ['would be auto-denied by rule no-ops-tickets'],
    });
    const human = await ajar.cli(['policy', 'simulate', join(dir, 'ajar.yaml'), '--since', '30d']);
    expect(human.stdout).toContain('4 would change:\n  0 refused, 2 now auto-denied, 0 no longer auto-denied, 1 now auto-approved');
    expect(human.stdout).toContain('would also need 1 of on-call payments-lead (rule release-push)');
  });

  it('replays a request as it was asked, not as an approver narrowed it', async () => {
    ajar.setClock('2026-11-22T09:00:00Z');
    const r = await ajar.json(['request', '-r', 'git:payments:release/5', '-a', 'push', '-d', '2h', '--reason', 'r5'], { as: 'alice' });
    expect((await ajar.json(['approve', r.id, '--duration', '30m'], { as: 'bob' })).request.durationSeconds).toBe(1800);
    ajar.setClock('2026-11-23T09:00:00Z');
    const file = join(ajar.dataDir, '..', 'one-hour.yaml');
    writeFileSync(file, readFileSync(EXAMPLE_CONFIG, 'utf8').replace('      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads], count: 1 }', '      default_duration: 1h\n      max_duration: 1h\n      approval: { groups: [leads], count: 1 }'));
    const s = await ajar.json(['policy', 'simulate', file, '--since', '2026-11-22T00:00:00Z', '--until', '2026-11-22T23:00:00Z']);
    expect(s).toMatchObject({ requests: 1, changed: 1 });
    expect(s.changes[0].changes).toEqual(['asked 2h, more than the new maximum 1h']);
  });

  it('requests the policy refused when they were asked are replayed too: a policy that allows more shows what it would let through', async () => {
    ajar.setClock('2026-11-22T10:00:00Z');
    const refused = await ajar.cli(['request', '-r', 'git:payments:feature/qa', '-a', 'push', '--reason', 'qa fix'], { as: 'dave' });
    expect(refused.code).not.toBe(0);
    const ev = (await ajar.json(['audit', '--type', 'request.refused'])).at(-1);
    expect(ev).toMatchObject({ actor: 'dave', resource: 'git:payments:feature/qa', action: 'push', reason: 'qa fix', outcome: 'deny' });
    expect(ev.details.refusal).toContain('no policy rule lets dave request push on git:payments:feature/qa');
    ajar.setClock('2026-11-23T09:00:00Z');
    const file = join(ajar.dataDir, '..', 'qa-push.yaml');
    writeFileSync(file, readFileSync(EXAMPLE_CONFIG, 'utf8').replace('    - name: feature-branches\n      who: { groups: [eng] }', '    - name: feature-branches\n      who: { groups: [eng, qa] }'));
    const s = await ajar.json(['policy', 'simulate', file, '--since', '2026-11-22T00:00:00Z', '--until', '2026-11-22T23:00:00Z']);
    expect(s).toMatchObject({ refusals: 1, summary: { nowAllowed: 1 } });
    expect(s.allowed).toEqual([expect.objectContaining({ requester: 'dave', resources: ['git:payments:feature/qa'], actions: ['push'], outcome: 'auto-approved' })]);
    const human = await ajar.cli(['policy', 'simulate', file, '--since', '2026-11-22T00:00:00Z', '--until', '2026-11-22T23:00:00Z']);
    expect(human.stdout).toContain('1 request(s) refused when asked; 1 would now be filed');
    expect(human.stdout).toContain('refused then, filed now:');
  });

  it('a longer or shorter maximum shows on the requests it would apply to', async () => {
    const file = join(ajar.dataDir, '..', 'four-hours.yaml');
    writeFileSync(file, readFileSync(EXAMPLE_CONFIG, 'utf8').replace('      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads], count: 1 }', '      default_duration: 1h\n      max_duration: 4h\n      approval: { groups: [leads], count: 1 }'));
    const s = await ajar.json(['policy', 'simulate', file, '--since', '2026-11-22T00:00:00Z', '--until', '2026-11-22T23:00:00Z']);
    expect(s.summary.maxDurationChanged).toBe(1);
    expect(s.changes[0].changes).toEqual(['could be asked for at most 4h instead of 2h']);
  });
});

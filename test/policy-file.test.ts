// The policy in its own file (policy_file:): served, reloaded when it changes,
// and simulated — as a whole new config, or as a new policy file under the
// running config's identities.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar, until } from './support/ajar.js';

// The example config, its policy: section (up to the next top-level key) moved to a file of its own.
const lines = readFileSync(EXAMPLE_CONFIG, 'utf8').split('\n');
const from = lines.indexOf('policy:');
const to = lines.findIndex((l, i) => i > from && /^[a-z]/.test(l));
const section = lines.slice(from + 1, to < 0 ? undefined : to);
const policyText = section.map((l) => l.replace(/^ {2}/, '')).join('\n');
const dir = mkdtempSync(join(tmpdir(), 'ajar-policy-file-'));
const policyFile = join(dir, 'policy.yaml');
const config = [...lines.slice(0, from), `policy_file: ${policyFile}`, ...(to < 0 ? [] : lines.slice(to))].join('\n');

let ajar: Ajar;
beforeAll(async () => {
  expect(policyText).toMatch(/^# A request nobody decides within this time expires\.\npending_ttl: 24h\nrules:\n {2}# Pushing/);
  writeFileSync(policyFile, policyText);
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

const maxFor = async () => (await ajar.json(['policy', 'explain', '--as', 'alice', '-a', 'push', '-r', 'git:payments:release/1'])).maxDurationSeconds;
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('policy_file', () => {
  it('serves the policy from its own file; editing that file reloads it without a restart and changes the policy version', async () => {
    expect(await maxFor()).toBe(7200);
    const before = (await ajar.json(['request', '-r', 'git:payments:release/1', '-a', 'push', '--reason', 'x'], { as: 'alice' })).policyVersion;
    writeFileSync(policyFile, policyText.replace('default_duration: 1h\n    max_duration: 2h', 'default_duration: 1h\n    max_duration: 3h'));
    expect(await until(maxFor, (v) => v === 10800)).toBe(10800);
    const after = (await ajar.json(['request', '-r', 'git:payments:release/2', '-a', 'push', '-d', '3h', '--reason', 'x'], { as: 'alice' })).policyVersion;
    expect(after).not.toBe(before);
    const events = await ajar.json(['audit', '--type', 'config.reloaded']);
    expect(events.at(-1).details).toEqual({ file: ajar.configFile, policyFile, policyVersionBefore: before, policyVersion: after });
  });

  it('a bad edit of the policy file keeps the running policy, and the log names the policy file\'s line', async () => {
    const good = readFileSync(policyFile, 'utf8');
    const bad = good.replace('max_duration: 3h', 'max_durration: 3h');
    writeFileSync(policyFile, bad);
    const log = await until(async () => ajar.serverLog(), (l) => l.includes('the running config stays in force'));
    expect(log).toContain('the running config stays in force');
    expect(log).toContain(`${policyFile}:${lineOf(bad, 'max_durration')}:5: rules.0.max_durration: unknown key`);
    expect(await maxFor()).toBe(10800);
    // Fixed, and applied at once on SIGHUP.
    writeFileSync(policyFile, good.replace('max_duration: 3h', 'max_duration: 90m'));
    ajar.signal('SIGHUP');
    expect(await until(maxFor, (v) => v === 5400)).toBe(5400);
  });

  it('ajar policy simulate takes a new policy file and replays it under the running config', async () => {
    const feature = await ajar.json(['request', '-r', 'git:payments:feature/sim', '-a', 'push', '--reason', 'x'], { as: 'erin' });
    expect(feature.state).toBe('approved');
    ajar.advance(60); // the period ends now, and the requests were filed at the clock's "now"
    // Elsewhere, with an on-call schedule beside it: both travel with the request.
    const next = join(dir, 'next');
    mkdirSync(next);
    writeFileSync(join(next, 'oncall.yml'), 'rotations:\n  payments-lead:\n    shifts:\n      - { user: bob, from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z" }\n');
    const newPolicy = readFileSync(policyFile, 'utf8')
      .replace('pending_ttl: 24h\n', 'pending_ttl: 24h\noncall_file: oncall.yml\n')
      .replace('    max_duration: 8h\n    approval: auto\n\n  # Developers', '    max_duration: 8h\n    approval: { oncall: [payments-lead] }\n\n  # Developers');
    expect(newPolicy).toContain('approval: { oncall: [payments-lead] }');
    writeFileSync(join(next, 'policy.yaml'), newPolicy);
    const s = await ajar.json(['policy', 'simulate', join(next, 'policy.yaml'), '--since', '1d']);
    // release/2 asked 3h before the running policy was cut to 90m; release/1 was filed when 2h was the most;
    // feature/sim was auto-approved.
    expect(s).toMatchObject({ replayed: 'policy', requests: 3, changed: 3, summary: { nowReviewed: 1, durationTooLong: 1, maxDurationChanged: 1 } });
    const by = Object.fromEntries(s.changes.map((c: any) => [c.id, c]));
    expect(by[feature.id]).toMatchObject({ changes: ['would need review instead of auto-approval'], after: { stages: ['1 of on-call payments-lead (rule feature-branches)'] } });
    const human = await ajar.cli(['policy', 'simulate', join(next, 'policy.yaml'), '--since', '1d']);
    expect(human.stdout).toMatch(/\(the new policy file under the running config\), policy version [0-9a-f]{16}; 3 would change/);
    // The running policy file itself: only what changed since it was edited.
    const own = await ajar.json(['policy', 'simulate', policyFile, '--since', '1d']);
    expect(own).toMatchObject({ replayed: 'policy', changed: 2 });
    expect(own.changes.map((c: any) => c.changes)).toEqual([['could be asked for at most 1h30m instead of 2h'], ['asked 3h, more than the new maximum 1h30m']]);
  });

  it('errors in a new policy file name it; the server reads no file of its own for a simulation', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync(policyFile, 'utf8').replace('approval: auto', 'approval: sometimes'));
    const r = await ajar.cli(['policy', 'simulate', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the new policy is invalid');
    expect(r.stderr).toMatch(new RegExp(`${broken}:\\d+:\\d+: rules\\.\\d+\\.approval`));
    // A config naming a policy file the client did not send: the server's own copy is not read.
    const res = await ajar.api('POST', '/v1/policy/simulate', { as: 'carol', body: { config, name: join(dir, 'ajar.yaml'), since: '1d' } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(`policy_file: cannot read ${policyFile} (ENOENT)`);
    const sent = await ajar.api('POST', '/v1/policy/simulate', { as: 'carol', body: { config, name: join(dir, 'ajar.yaml'), files: { [policyFile]: readFileSync(policyFile, 'utf8') }, since: '1d' } });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ replayed: 'config', changed: 2 });
  });
});

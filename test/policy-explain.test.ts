// `ajar policy explain` and its API: the answer before anyone asks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
});
afterAll(() => ajar?.stop());

describe('policy explain', () => {
  it('tells alice she may request a release push for up to 2h, approved by one lead (bob)', async () => {
    const r = await ajar.cli(['policy', 'explain', '--action', 'push', '--resource', 'git:payments:release/2.4'], { as: 'alice' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('alice may request push on git:payments:release/2.4 (rule release-push)');
    expect(r.stdout).toContain('default 1h, at most 2h');
    expect(r.stdout).toContain('1 of group leads — bob');
    // Nothing was filed.
    expect(await ajar.json(['requests'], { as: 'alice' })).toEqual([]);
  });

  it('admins explain for anyone, with --as; others only for themselves', async () => {
    const e = await ajar.json(['policy', 'explain', '--as', 'erin', '-a', 'push', '-r', 'git:payments:feature/x'], { as: 'carol' });
    expect(e).toMatchObject({ subject: 'erin', eligible: true, autoApproved: true, rules: ['feature-branches'], maxDurationSeconds: 28800 });
    const other = await ajar.cli(['policy', 'explain', '--as', 'bob', '-a', 'push', '-r', 'git:payments:feature/x'], { as: 'alice' });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('needs an admin');
  });

  it('a request nothing allows exits 1 with the reason', async () => {
    const r = await ajar.cli(['policy', 'explain', '--as', 'dave', '-a', 'push', '-r', 'git:payments:main']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('no policy rule lets dave request push on git:payments:main');
  });

  it('answers as filing would for the duration, ticket and time given, and says what it assumed', async () => {
    const long = await ajar.cli(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/2.4', '--duration', '3h'], { as: 'alice' });
    expect(long.code).toBe(1);
    expect(long.stdout).toContain('REFUSED as asked: duration: longer than the 2h the policy allows');
    const e = await ajar.json(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/2.4', '--duration', '30m', '--at', '2026-12-24T20:00:00Z'], { as: 'alice' });
    expect(e).toMatchObject({ at: '2026-12-24T20:00:00.000Z', durationSeconds: 1800, problems: { duration: null, ticket: null, fields: null } });
    expect(e.assumed).toEqual(['no ticket', 'no fields', 'an empty reason']);
    expect(e.chain).toEqual({ satisfiable: true, problem: null });
    const bad = await ajar.api('POST', '/v1/policy/explain', { as: 'alice', body: { resources: ['git:payments:release/1'], actions: ['push'], at: 'tomorrow' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('at: not a time');
  });

  it('--break-glass says whether the emergency rule would grant it at once', async () => {
    const e = await ajar.json(['policy', 'explain', '-a', 'push', '-r', 'git:payments:main', '--break-glass'], { as: 'alice' });
    expect(e).toMatchObject({ eligible: true, breakGlass: true, autoApproved: true, rules: ['emergency-push'] });
    expect(e.command).toContain('--break-glass');
    const plain = await ajar.cli(['policy', 'explain', '-a', 'push', '-r', 'git:payments:main'], { as: 'alice' });
    expect(plain.code).toBe(1);
  });

  it('bad input is refused like a real request', async () => {
    const r = await ajar.api('POST', '/v1/policy/explain', { as: 'alice', body: { resources: ['git:nope'], actions: ['read'] } });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('unknown resource');
  });
});

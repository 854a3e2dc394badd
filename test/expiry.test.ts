// Time: grants end by themselves, pending requests expire, scheduled grants
// start later. The server's clock is set by the test; nothing sleeps.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

// A sweep interval of a day: decisions must not depend on the sweeper.
const config = readFileSync(EXAMPLE_CONFIG, 'utf8').replace('policy:\n  # A request nobody decides within this time expires.\n  pending_ttl: 24h', 'workers:\n  sweep_interval: 1d\npolicy:\n  pending_ttl: 2h');

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('sweep_interval: 1d');
  ajar = await startAjar({ config, clock: '2026-11-23T09:00:00Z' });
});
afterAll(() => ajar?.stop());

const push = (user: string, branch: string) => ['check', '--user', user, '--action', 'push', '--resource', `git:payments:${branch}`];

describe('expiry under a settable clock', () => {
  it('a grant past its end never allows, whether or not the sweeper has run', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/5', '-a', 'push', '-d', '1h', '--reason', 'release 5'], { as: 'alice' });
    await ajar.json(['approve', req.id], { as: 'bob' });
    ajar.advance(3599);
    expect((await ajar.cli(push('alice', 'release/5'))).code).toBe(0);
    ajar.advance(1); // exactly at the end: the window is [start, end)
    const denied = await ajar.cli(push('alice', 'release/5'));
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain('no active grant');
    const g = await ajar.json(['grants', '--user', 'alice', '--state', 'expired']);
    expect(g.map((x: any) => x.requestId)).toContain(req.id);
    // The sweeper (daily here) has not written it down yet: no grant.expired event.
    const events = await ajar.json(['audit', '--type', 'grant.expired']);
    expect(events).toEqual([]);
  });

  it('a pending request expires after its TTL and can no longer be approved', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/6', '-a', 'push', '--reason', 'later'], { as: 'erin' });
    ajar.advance(2 * 3600);
    expect((await ajar.json(['requests', req.id], { as: 'erin' })).state).toBe('expired');
    const late = await ajar.cli(['approve', req.id], { as: 'bob' });
    expect(late.code).toBe(2);
    expect(late.stderr).toContain('expired before it was decided');
    const events = await ajar.json(['audit', '--type', 'request.expired']);
    expect(events.map((e: any) => e.requestId)).toContain(req.id);
    expect((await ajar.cli(push('erin', 'release/6'))).code).toBe(1);
  });

  it('a grant with a later start is scheduled until then, and its window starts then', async () => {
    const start = new Date(ajar.now().getTime() + 3 * 3600_000).toISOString();
    const req = await ajar.json(['request', '-r', 'git:payments:release/7', '-a', 'push', '-d', '1h', '--start', start, '--reason', 'night release'], { as: 'alice' });
    const ok = await ajar.json(['approve', req.id], { as: 'bob' });
    const g = await ajar.json(['grants', ok.request.grantId], { as: 'alice' });
    expect(g).toMatchObject({ state: 'scheduled', startsAt: start });
    const early = await ajar.cli(push('alice', 'release/7'));
    expect(early.code).toBe(1);
    expect(early.stdout).toContain(`starts at ${start}`);
    ajar.setClock(start);
    expect((await ajar.cli(push('alice', 'release/7'))).code).toBe(0);
    ajar.advance(3600);
    expect((await ajar.cli(push('alice', 'release/7'))).code).toBe(1);
  });
});

describe('the sweeper', () => {
  it('writes down expiries, including ones that passed while Ajar was down', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:feature/sweep', '-a', 'push', '-d', '1h', '--reason', 'x'], { as: 'alice' });
    await ajar.stop();
    ajar.advance(2 * 3600);
    await ajar.start(); // the sweep runs at start
    let events: any[] = [];
    for (let i = 0; i < 100 && !events.some((e) => e.grantId === req.grantId); i++) {
      events = await ajar.json(['audit', '--type', 'grant.expired']);
    }
    expect(events.find((e) => e.grantId === req.grantId)).toMatchObject({ actor: 'ajar', subject: 'alice', resource: 'git:payments:feature/sweep' });
  });
});

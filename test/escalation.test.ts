// Escalation: no decision within the stage's time → the next tier may decide.
// Computed from stored times, so it holds across restarts; the clock is set, not waited for.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, isPostgres, startAjar } from './support/ajar.js';

// A sweep interval of a day: the sweep runs at start only, so each restart is one sweep
// (and stopping waits for it to finish). billing-stable gets two escalating stages.
const config = `${readFileSync(EXAMPLE_CONFIG, 'utf8')
  .replace('      approval: { groups: [leads], count: 1 }\n', '      approval: { groups: [leads], count: 1, escalate: { after: 2h, groups: [security] } }\n')
  .replace(
    '      resources: ["hg:billing:stable"]\n      actions: [push]\n      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads] }\n',
    '      resources: ["hg:billing:stable"]\n      actions: [push]\n      default_duration: 1h\n      max_duration: 2h\n      approval:\n        stages:\n          - { groups: [leads], escalate: { after: 1h, groups: [security] } }\n          - { groups: [security], escalate: { after: 30m, users: [bob] } }\n',
  )}
workers:
  sweep_interval: 1d
`;

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('escalate: { after: 2h');
  expect(config).toContain('escalate: { after: 30m');
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

describe('escalation', () => {
  it('security may decide only once the leads have left it undecided for 2h, across a restart', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/4', '-a', 'push', '--reason', 'release'], { as: 'alice' });
    const early = await ajar.cli(['approve', r.id], { as: 'carol' });
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('not an approver');
    expect(early.stderr).toContain('after 2h also group security');
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

/** The request.escalated events of a request (read through the server, or the database when it is stopped). */
const escalated = async (id: string) => (await ajar.json(['audit', '--type', 'request.escalated'])).filter((e: any) => e.requestId === id);
/** erin asks for a release push (escalating after 2h); then Ajar is down for `seconds`. */
async function releaseThenDown(branch: string, seconds: number) {
  const r = await ajar.json(['request', '-r', `git:payments:${branch}`, '-a', 'push', '--reason', 'release'], { as: 'erin' });
  await ajar.stop();
  ajar.advance(seconds);
  return r;
}
/** One sweep: the sweep runs at start, and stopping waits for it. */
async function sweepOnce() {
  await ajar.start();
  await ajar.stop();
}

// Each restart of the embedded database takes seconds, and these cases restart many times.
describe('request.escalated', { timeout: 300_000 }, () => {
  it('the sweep writes it once per stage when the stage\'s time passes, and never again across restarts', async () => {
    const t0 = ajar.now().getTime();
    const r = await ajar.json(['request', '-r', 'hg:billing:stable', '-a', 'push', '--reason', 'stable fix'], { as: 'alice' });
    await ajar.stop();
    ajar.advance(3599);
    await sweepOnce();
    expect(await escalated(r.id)).toEqual([]);
    ajar.advance(1);
    await sweepOnce();
    const first = await escalated(r.id);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      actor: 'ajar',
      subject: 'alice',
      requestId: r.id,
      resource: 'hg:billing:stable',
      action: 'push',
      reason: 'no decision on stage 1 within 1h',
      details: { stage: 1, of: 2, rule: 'billing-stable', groups: ['security'], users: [], afterSeconds: 3600, dueAt: new Date(t0 + 3600_000).toISOString() },
    });
    await sweepOnce();
    await sweepOnce();
    expect(await escalated(r.id)).toHaveLength(1);

    // bob approves stage 1: stage 2 starts now, and escalates 30 minutes later.
    await ajar.start();
    ajar.advance(600);
    await ajar.json(['approve', r.id], { as: 'bob' });
    await ajar.stop();
    ajar.advance(1799);
    await sweepOnce();
    expect(await escalated(r.id)).toHaveLength(1);
    ajar.advance(1);
    await sweepOnce();
    const both = await escalated(r.id);
    expect(both.map((e: any) => e.details.stage)).toEqual([1, 2]);
    expect(both[1].details).toMatchObject({ stage: 2, of: 2, groups: [], users: ['bob'], afterSeconds: 1800, dueAt: new Date(t0 + 3600_000 + 600_000 + 1800_000).toISOString() });
    await ajar.start();
  });

  it('a timer that fires again (as if two processes had both seen it) announces nothing new', async () => {
    const r = await releaseThenDown('release/6', 2 * 3600);
    await sweepOnce();
    expect(await escalated(r.id)).toHaveLength(1);
    expect(await ajar.sql('select stage from request_escalations where request_id = $1', [r.id])).toEqual([{ stage: 0 }]);
    await ajar.sql('update access_requests set escalates_at = created_at where id = $1', [r.id]);
    await sweepOnce();
    expect(await escalated(r.id)).toHaveLength(1);
    expect(await ajar.sql('select escalates_at from access_requests where id = $1', [r.id])).toEqual([{ escalates_at: null }]);
    await ajar.start();
  });

  it('a request that expired before the sweep saw its escalation is not announced', async () => {
    const r = await releaseThenDown('release/7', 25 * 3600);
    await sweepOnce();
    expect((await ajar.json(['audit', '--type', 'request.expired'])).map((e: any) => e.requestId)).toContain(r.id);
    expect(await escalated(r.id)).toEqual([]);
    await ajar.start();
  });

  // Several processes share only PostgreSQL (the embedded database admits one process), so
  // this case exists on PostgreSQL only; restarts on either database are tested above.
  if (isPostgres()) it('two processes sweeping at the same time announce it once', async () => {
    const r = await releaseThenDown('release/8', 2 * 3600);
    const [, other] = await Promise.all([ajar.start(), startAjar({ config, shareDatabaseOf: ajar, clock: ajar.now().toISOString() })]);
    await Promise.all([ajar.stop(), other.stop()]);
    expect(await escalated(r.id)).toHaveLength(1);
    await ajar.start();
  });
});

describe('escalation tiers', { timeout: 300_000 }, () => {
  const tiered = `${readFileSync(EXAMPLE_CONFIG, 'utf8').replace(
    '      approval: { groups: [leads], count: 1 }\n',
    '      approval:\n        groups: [leads]\n        escalate:\n          - { after: 1h, groups: [security] }\n          - { after: 3h, users: [dave] }\n',
  )}
workers:
  sweep_interval: 1d
`;
  let t: Ajar;
  beforeAll(async () => {
    expect(tiered).toContain('after: 3h, users: [dave]');
    t = await startAjar({ config: tiered });
  });
  afterAll(() => t?.stop());
  const events = async (id: string) => (await t.json(['audit', '--type', 'request.escalated'])).filter((e: any) => e.requestId === id);

  it('each tier widens who may decide when its time comes, and is announced once', async () => {
    const r = await t.json(['request', '-r', 'git:payments:release/9', '-a', 'push', '--reason', 'release'], { as: 'alice' });
    await t.stop();
    t.advance(3600);
    await t.start(); // one sweep at start
    expect((await events(r.id)).map((e: any) => [e.details.tier, e.details.groups, e.details.users])).toEqual([[1, ['security'], []]]);
    expect((await t.cli(['approve', r.id], { as: 'dave' })).stderr).toContain('not an approver');
    await t.stop();
    t.advance(2 * 3600);
    await t.start();
    await t.stop();
    await t.start(); // a second sweep at the same time announces nothing new
    const both = await events(r.id);
    expect(both.map((e: any) => [e.details.tier, e.details.tiers, e.details.users])).toEqual([[1, 2, []], [2, 2, ['dave']]]);
    expect((await t.json(['approve', r.id], { as: 'dave' })).request.state).toBe('approved');
  });
});

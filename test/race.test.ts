// 50 approvals racing on one request yield exactly one grant, on the embedded
// database (one serialized connection) and on PostgreSQL (a pool, and a second
// server process on the same database).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, isPostgres, startAjar } from './support/ajar.js';

const config = readFileSync(EXAMPLE_CONFIG, 'utf8').replace('  dave: {', '  lena: { groups: [leads] }\n  dave: {');

let ajar: Ajar;
let second: Ajar | undefined;
beforeAll(async () => {
  ajar = await startAjar({ config });
  // With PostgreSQL, half the approvals go through a second ajar process.
  if (isPostgres()) second = await startAjar({ config, shareDatabaseOf: ajar });
});
afterAll(async () => {
  await second?.stop();
  await ajar?.stop();
});

async function race(requester: string, approvers: string[]) {
  const req = await ajar.json(['request', '-r', 'git:payments:release/8', '-a', 'push', '--reason', 'race'], { as: requester });
  const tokens = Object.fromEntries(await Promise.all(approvers.map(async (a) => [a, await ajar.token(a)] as const)));
  const servers = [ajar, second ?? ajar];
  const replies = await Promise.all(
    Array.from({ length: 50 }, (_, i) => {
      const who = approvers[i % approvers.length]!;
      return servers[i % 2]!.api('POST', `/v1/requests/${req.id}/approve`, { token: tokens[who], body: {} }).then((r) => ({ who, ...r }));
    }),
  );
  return { req, replies };
}

describe('racing approvals', () => {
  it('fifty identical approvals by one lead: one grant, one decision, the rest no-ops', async () => {
    const { req, replies } = await race('alice', ['bob']);
    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(replies.filter((r) => r.body.changed)).toHaveLength(1);
    const grants = await ajar.json(['grants', '--user', 'alice']);
    expect(grants.filter((g: any) => g.requestId === req.id)).toHaveLength(1);
    const created = await ajar.json(['audit', '--type', 'grant.created']);
    expect(created.filter((e: any) => e.requestId === req.id)).toHaveLength(1);
    const reviewed = await ajar.json(['requests', req.id]);
    expect(reviewed.reviews).toHaveLength(1);
  });

  it('fifty approvals by two leads at once: one grant, the later lead is told it is already approved', async () => {
    const { req, replies } = await race('erin', ['bob', 'lena']);
    const ok = replies.filter((r) => r.status === 200);
    const conflicts = replies.filter((r) => r.status === 409);
    expect(ok.length + conflicts.length).toBe(50);
    expect(ok.filter((r) => r.body.changed)).toHaveLength(1);
    const winner = ok.find((r) => r.body.changed)!.who;
    expect(conflicts.every((r) => r.who !== winner && /already approved/.test(r.body.error.message))).toBe(true);
    const grants = await ajar.json(['grants', '--user', 'erin']);
    expect(grants.filter((g: any) => g.requestId === req.id)).toHaveLength(1);
    const verify = await ajar.cli(['audit', 'verify']);
    expect(verify.code).toBe(0);
  });
});

// The whole request → approval → grant → decision lifecycle, through the real
// CLI against a real `ajar serve`, on the embedded database or PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
});
afterAll(() => ajar?.stop());

describe('request, approve, decide', () => {
  it('a release push is pending, denied by check, approved by a lead and then allowed until the grant ends', async () => {
    const before = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/2.4']);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain('deny: no active grant for push on git:payments:release/2.4');
    expect(before.stdout).toContain('ajar request --resource git:payments:release/2.4 --action push');

    const req = await ajar.json(['request', '-r', 'git:payments:release/2.4', '-a', 'push', '-d', '90m', '--reason', 'hotfix for INC-7', '--ticket', 'INC-7'], { as: 'alice' });
    expect(req).toMatchObject({ state: 'pending', requester: 'alice', durationSeconds: 5400, rules: ['release-push'], ticket: 'INC-7' });
    expect(req.approvals).toEqual([{ rule: 'release-push', groups: ['leads'], users: [], count: 1, distinct: null, ruleStage: 0, have: 0 }]);

    const review = await ajar.json(['requests', '--review'], { as: 'bob' });
    expect(review.map((r: any) => r.id)).toContain(req.id);

    ajar.advance(600); // the grant window starts at approval, not at request time
    const approved = await ajar.json(['approve', req.id, '--reason', 'ok for the hotfix'], { as: 'bob' });
    expect(approved.changed).toBe(true);
    expect(approved.request.state).toBe('approved');
    const grant = await ajar.json(['grants', approved.request.grantId], { as: 'alice' });
    expect(grant.startsAt).toBe(ajar.now().toISOString());
    expect(new Date(grant.endsAt).getTime() - new Date(grant.startsAt).getTime()).toBe(5400_000);
    expect(grant.reason).toBe('hotfix for INC-7');

    const allowed = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/2.4', '--json']);
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ allow: true, grantId: grant.id, expiresAt: grant.endsAt });

    // The grant covers exactly what was asked: not force-push, not another branch.
    for (const [action, resource] of [
      ['force-push', 'git:payments:release/2.4'],
      ['push', 'git:payments:release/2.5'],
      ['push', 'git:payments:main'],
    ]) {
      const r = await ajar.cli(['check', '--user', 'alice', '--action', action!, '--resource', resource!]);
      expect(r.code, `${action} ${resource}`).toBe(1);
    }
    // Nor anyone else.
    expect((await ajar.cli(['check', '--user', 'erin', '--action', 'push', '--resource', 'git:payments:release/2.4'])).code).toBe(1);
  });

  it('a requester can never approve their own request, admins included', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/3.0', '-a', 'push', '--reason', 'release 3.0'], { as: 'alice' });
    const self = await ajar.cli(['approve', req.id], { as: 'alice' });
    expect(self.code).toBe(2);
    expect(self.stderr).toContain('you cannot review your own request');
    // The local admin files no requests, and carol (an admin, not a lead) is no approver.
    const admin = await ajar.cli(['approve', req.id], { as: 'carol' });
    expect(admin.code).toBe(2);
    expect(admin.stderr).toContain('not an approver');
    const still = await ajar.json(['requests', req.id], { as: 'alice' });
    expect(still.state).toBe('pending');
    expect(still.reviews).toEqual([]);
  });

  it('an admin who is also an approver still cannot approve their own request', async () => {
    const boss = await startAjar({
      config: (await import('node:fs')).readFileSync((await import('./support/ajar.js')).EXAMPLE_CONFIG, 'utf8').replace('admins:\n  groups: [security]', 'admins:\n  groups: [security, leads]').replace('who: { groups: [eng] }\n      resources: ["git:payments:release/*"]', 'who: { groups: [eng, leads] }\n      resources: ["git:payments:release/*"]')
        // a second lead: with bob alone, his own requests could never be approved, which the config refuses
        .replace('  bob: { groups: [leads]', '  lena: { groups: [leads] }\n  bob: { groups: [leads]'),
    });
    try {
      const req = await boss.json(['request', '-r', 'git:payments:release/9', '-a', 'push', '--reason', 'mine'], { as: 'bob' });
      const r = await boss.cli(['approve', req.id], { as: 'bob' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('you cannot review your own request');
      expect((await boss.json(['whoami'], { as: 'bob' })).admin).toBe(true);
    } finally {
      await boss.stop();
    }
  });

  it('a denial needs a reason, ends the request and creates no grant', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/4.0', '-a', 'push', '--reason', 'try'], { as: 'erin' });
    const noReason = await ajar.cli(['deny', req.id], { as: 'bob' });
    expect(noReason.code).toBe(2);
    const denied = await ajar.json(['deny', req.id, '--reason', 'not during the freeze'], { as: 'bob' });
    expect(denied.request).toMatchObject({ state: 'denied', decidedBy: 'bob', decisionReason: 'not during the freeze', grantId: null });
    // Deciding again the same way changes nothing; deciding otherwise is a conflict.
    expect((await ajar.json(['deny', req.id, '--reason', 'again'], { as: 'bob' })).changed).toBe(false);
    const flip = await ajar.cli(['approve', req.id], { as: 'bob' });
    expect(flip.code).toBe(2);
    expect(flip.stderr).toContain('already denied');
  });

  it('feature branches and QA reads are auto-approved by policy, for the policy duration', async () => {
    const f = await ajar.json(['request', '-r', 'git:payments:feature/login/form', '-a', 'push', '-a', 'force-push', '--reason', 'work on login'], { as: 'erin' });
    expect(f).toMatchObject({ state: 'approved', autoApproved: true, decidedBy: 'policy:feature-branches', durationSeconds: 8 * 3600 });
    expect(f.grantId).toMatch(/^grt_/);
    expect((await ajar.cli(['check', '--user', 'erin', '--action', 'force-push', '--resource', 'git:payments:feature/login/form'])).code).toBe(0);

    const read = await ajar.json(['request', '-r', 'git:payments', '-a', 'read', '--reason', 'test plan'], { as: 'dave' });
    expect(read.state).toBe('approved');
    expect((await ajar.cli(['check', '--user', 'dave', '--action', 'read', '--resource', 'git:payments'])).code).toBe(0);
    // dave may read, but nothing else.
    const push = await ajar.cli(['request', '-r', 'git:payments:feature/x', '-a', 'push', '--reason', 'x'], { as: 'dave' });
    expect(push.code).toBe(2);
    expect(push.stderr).toContain('no policy rule lets dave request push on git:payments:feature/x');
  });

  it('release/* never covers release-x, release/1/2 or Release/1', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/*', '-a', 'push', '--reason', 'release train'], { as: 'erin' });
    await ajar.json(['approve', req.id], { as: 'bob' });
    const check = (resource: string) => ajar.cli(['check', '--user', 'erin', '--action', 'push', '--resource', resource]);
    expect((await check('git:payments:release/7')).code).toBe(0);
    expect((await check('git:payments:refs/heads/release/7')).code).toBe(0);
    expect((await check('git:payments:release-x')).code).toBe(1);
    expect((await check('git:payments:release/1/2')).code).toBe(1);
    expect((await check('git:payments:Release/1')).code).toBe(1);
    // A request can never be wider than the rule allows.
    const wide = await ajar.cli(['request', '-r', 'git:payments:release/**', '-a', 'push', '--reason', 'all'], { as: 'erin' });
    expect(wide.code).toBe(2);
  });

  it('a grant can be released early, and extended only through the policy', async () => {
    const f = await ajar.json(['request', '-r', 'git:payments:feature/ext', '-a', 'push', '-d', '1h', '--reason', 'short task'], { as: 'alice' });
    const ext = await ajar.json(['extend', f.grantId, '-d', '8h', '--reason', 'took longer'], { as: 'alice' });
    expect(ext).toMatchObject({ state: 'approved', extendsGrantId: f.grantId });
    const g = await ajar.json(['grants', f.grantId], { as: 'alice' });
    expect(new Date(g.endsAt).getTime()).toBe(ajar.now().getTime() + 8 * 3600_000);
    const tooLong = await ajar.cli(['extend', f.grantId, '-d', '9h', '--reason', 'more'], { as: 'alice' });
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('longer than the 8h the policy allows');

    const released = await ajar.json(['release', f.grantId], { as: 'alice' });
    expect(released.state).toBe('released');
    expect((await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:feature/ext'])).code).toBe(1);
    // Releasing again is a no-op; someone else's grant is not found.
    expect((await ajar.json(['release', f.grantId], { as: 'alice' })).state).toBe('released');
    expect((await ajar.cli(['release', f.grantId], { as: 'erin' })).stderr).toContain('not found');
  });

  it('a pending request can be cancelled by its requester only', async () => {
    const req = await ajar.json(['request', '-r', 'hg:billing:stable', '-a', 'push', '--reason', 'fix rounding'], { as: 'erin' });
    expect((await ajar.cli(['cancel', req.id], { as: 'alice' })).code).toBe(2);
    expect((await ajar.json(['cancel', req.id], { as: 'erin' })).state).toBe('cancelled');
    const late = await ajar.cli(['approve', req.id], { as: 'bob' });
    expect(late.stderr).toContain('already cancelled');
  });

  it('a use-bound grant is consumed by its uses', async () => {
    const req = await ajar.json(['request', '-r', 'env:payments:production', '-a', 'deploy', '--reason', 'release 2.4'], { as: 'deployer' });
    expect(req.maxUses).toBe(1);
    await ajar.json(['approve', req.id], { as: 'bob' });
    const args = ['check', '--user', 'deployer', '--action', 'deploy', '--resource', 'env:payments:production'];
    expect((await ajar.cli(args)).code).toBe(0); // a plain check does not use it up
    const used = await ajar.cli([...args, '--consume', '--json']);
    expect(used.code).toBe(0);
    expect(JSON.parse(used.stdout).usesLeft).toBe(0);
    expect((await ajar.cli([...args, '--consume'])).code).toBe(1);
    const g = await ajar.json(['grants', '--user', 'deployer']);
    expect(g[0]).toMatchObject({ state: 'consumed', uses: 1, maxUses: 1 });
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  it('unknown resources, unknown actions and durations out of range are refused', async () => {
    const cases: [string[], string][] = [
      [['-r', 'git:nope:main', '-a', 'push', '--reason', 'x'], 'unknown resource "git:nope:main"'],
      [['-r', 'git:payments:release/1', '-a', 'fly', '--reason', 'x'], 'action "fly" does not apply to git resources'],
      [['-r', 'git:payments:release/1', '-a', 'push', '-d', '3h', '--reason', 'x'], 'longer than the 2h the policy allows'],
      [['-r', 'git:payments:release/1', '-a', 'push', '-d', 'soon', '--reason', 'x'], 'is not a duration'],
      [['-r', 'git:payments:release/1', '-a', 'push', '--reason', '  '], 'reason: say why'],
      [['-r', 'payments', '-a', 'push', '--reason', 'x'], 'unknown kind'],
      [['-r', 'git:payments:main', '-a', 'read', '--reason', 'x'], 'granted per repository'],
    ];
    const before = await ajar.json(['requests'], { as: 'alice' });
    for (const [args, message] of cases) {
      const r = await ajar.cli(['request', ...args], { as: 'alice' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(await ajar.json(['requests'], { as: 'alice' })).toHaveLength(before.length);
  });

  it('malformed API input is a 400 naming the field, unknown ids a 404, in one error shape', async () => {
    const notJson = await ajar.api('POST', '/v1/requests', { as: 'alice', raw: '{"resources": [' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('not valid JSON') });
    expect(notJson.body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const wrongType = await ajar.api('POST', '/v1/requests', { as: 'alice', body: { resources: 'git:payments', actions: ['read'], reason: 'x' } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toMatch(/^resources:/);

    const extra = await ajar.api('POST', '/v1/requests', { as: 'alice', body: { resources: ['git:payments'], actions: ['read'], reason: 'x', admin: true } });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toContain('admin');

    for (const path of ['/v1/requests/req_nope', '/v1/grants/grt_nope']) {
      const r = await ajar.api('GET', path, { as: 'alice' });
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('not_found');
    }
    const missing = await ajar.cli(['approve', 'req_nope'], { as: 'bob' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('request req_nope not found');
  });

  it("someone else's request or grant answers exactly like one that does not exist", async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:feature/secret', '-a', 'push', '--reason', 'x'], { as: 'alice' });
    const theirs = await ajar.api('GET', `/v1/grants/${req.grantId}`, { as: 'erin' });
    const none = await ajar.api('GET', '/v1/grants/grt_doesnotexist', { as: 'erin' });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.message.replace(req.grantId, 'ID')).toBe(none.body.error.message.replace('grt_doesnotexist', 'ID'));
  });

  it('check answers an unknown resource exactly like a missing grant', async () => {
    const a = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:secret-repo:main', '--json']);
    const b = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:hidden', '--json']);
    expect(a.code).toBe(1);
    expect(b.code).toBe(1);
    const strip = (s: string) => {
      const j = JSON.parse(s);
      return { ...j, at: 0, reason: j.reason.replace(j.resource, 'R'), request: j.request.replace(j.resource, 'R'), resource: 'R' };
    };
    expect(strip(a.stdout)).toEqual(strip(b.stdout));
  });

  it('check exits 2 on an error, not 1', async () => {
    const r = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'nope']);
    expect(r.code).toBe(2);
    const down = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:main'], { env: { AJAR_URL: 'http://127.0.0.1:9', AJAR_TOKEN: 'ajar_x' } });
    expect(down.code).toBe(2);
    expect(down.stderr).toContain('cannot reach Ajar');
  });
});

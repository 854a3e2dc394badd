// The deploy gate as a CI job runs it: `ajar gate` with the pipeline's token,
// against the example policy (deployer may deploy payments to production once
// per approval by a lead, within 30 minutes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { gitConfig, policyRules } from './support/git.js';

let a: Ajar;
const SHA = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const DIGEST = `sha256:${'c'.repeat(64)}`;
const github = { GITHUB_ACTIONS: 'true', GITHUB_WORKFLOW: 'deploy', GITHUB_SERVER_URL: 'https://github.example', GITHUB_REPOSITORY: 'acme/payments', GITHUB_RUN_ID: '42', GITHUB_ACTOR: 'alice', GITHUB_SHA: SHA };

const gate = (args: string[], env: Record<string, string> = {}) => a.cli(['gate', '--resource', 'env:payments:production', ...args], { as: 'deployer', env });

/** The pending request of the deployer, once the gate has filed it. */
async function pendingRequest(): Promise<any> {
  for (;;) {
    const list = await a.json(['requests', '--review'], { as: 'bob' });
    const r = list.find((x: any) => x.requester === 'deployer' && x.state === 'pending');
    if (r) return r;
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

beforeAll(async () => {
  // The example policy, with production deploys bound to a build.
  a = await startAjar({
    config: gitConfig((doc) => {
      const rules = policyRules(doc);
      rules.find((r: any) => r.name === 'production-deploy').require_artifact = true;
      doc.setIn(['policy', 'rules'], rules);
    }),
  });
});
afterAll(() => a?.stop());

describe('ajar gate', () => {
  it('without a grant it refuses at once and says how to ask', async () => {
    const r = await gate(['--artifact', SHA]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused: no active grant for deploy on env:payments:production');
    expect(r.stderr).toContain('--wait');
  });

  it('with --wait it files the request from the pipeline, waits for the lead, passes once, and only once', async () => {
    const running = gate(['--artifact', SHA, '--wait', '30m', '--poll', '0.1'], github);
    const req = await pendingRequest();
    expect(req.reason).toContain('GitHub Actions deploy https://github.example/acme/payments/actions/runs/42 by alice commit');
    expect(req.artifact).toBe(SHA);
    await a.json(['approve', req.id, '--reason', 'ship it'], { as: 'bob' });
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`filed request ${req.id}`);
    expect(r.stderr).toContain('waiting for approval: 0 of 1 from leads');
    expect(r.stderr).toMatch(/allowed by grant grt_\w+ until .* \(0 use\(s\) left\)/);
    expect(r.stdout).toBe('');
    // One deploy per approval: the use was counted.
    const again = await gate(['--artifact', SHA]);
    expect(again.code).toBe(1);
    const checks = await a.json(['audit', '--local', '--type', 'access.checked', '--user', 'deployer']);
    expect(checks.filter((e: any) => e.outcome === 'allow')).toHaveLength(1);
    // The gate's decision links back to the grant, its request and the pipeline run.
    const pipeline = { system: 'github', runUrl: 'https://github.example/acme/payments/actions/runs/42', commit: SHA, actor: 'alice', name: 'deploy' };
    const allow = checks.find((e: any) => e.outcome === 'allow');
    expect(allow).toMatchObject({ requestId: req.id, grantId: expect.stringMatching(/^grt_/), details: { artifact: SHA, pipeline, policyVersion: expect.stringMatching(/^[0-9a-f]{16}$/) } });
    const trail = await a.json(['audit', '--local', '--user', 'deployer']);
    const of = (type: string) => trail.find((e: any) => e.type === type && e.requestId === req.id);
    expect(of('request.created').details).toMatchObject({ artifact: SHA, pipeline });
    expect(of('grant.created').details).toMatchObject({ artifact: SHA });
    expect(of('grant.consumed')).toMatchObject({ grantId: allow.grantId, details: { uses: 1 } });
  });

  it("without --artifact the approval is bound to the CI's commit, and --reason keeps the pipeline's links", async () => {
    const running = gate(['--wait', '30m', '--poll', '0.1', '--reason', 'hotfix INC-7'], { ...github, GITHUB_SHA: OTHER });
    const req = await pendingRequest();
    expect(req.artifact).toBe(OTHER);
    expect(req.reason).toBe(`hotfix INC-7 (GitHub Actions deploy https://github.example/acme/payments/actions/runs/42 by alice commit ${OTHER})`);
    await a.json(['approve', req.id], { as: 'bob' });
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`ajar gate: artifact ${OTHER} (the CI's commit`);
  });

  it('a retried pipeline waits on its pending request instead of filing another, and passes once it is approved', async () => {
    // Run 1 gives up; its request stays pending.
    const start = a.now();
    const first = gate(['--artifact', SHA, '--wait', '3s', '--poll', '0.1']);
    const r1 = await pendingRequest();
    a.advance(5);
    expect((await first).code).toBe(1);
    a.setClock(start);
    // Run 2 (a retry of the same job) finds it.
    const polls = () => a.serverLog().split(`"path":"/v1/requests/${r1.id}"`).length;
    const before = polls();
    const second = gate(['--artifact', SHA, '--wait', '25s', '--poll', '0.1']);
    for (let i = 0; i < 200 && polls() === before; i++) await new Promise((ok) => setTimeout(ok, 100));
    await a.json(['approve', r1.id, '--reason', 'ship it'], { as: 'bob' });
    const r = await second;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`request ${r1.id} for this deploy is already pending`);
    expect(r.stderr).not.toContain('filed request');
    const mine = await a.json(['requests', '--user', 'deployer'], { as: 'deployer' });
    expect(mine.filter((x: any) => x.state === 'pending')).toEqual([]);
  });

  it('a wait ends as soon as any matching grant is active, whichever request it came from', async () => {
    const running = gate(['--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
    const filed = await pendingRequest();
    // Someone files and a lead approves another request for the same build; the gate's own stays pending.
    const other = await a.json(['request', '--resource', 'env:payments:production', '--action', 'deploy', '--artifact', SHA, '--reason', 'by hand'], { as: 'deployer' });
    await a.json(['approve', other.id], { as: 'bob' });
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/allowed by grant grt_\w+/);
    expect((await a.json(['requests', filed.id], { as: 'deployer' })).state).toBe('pending');
    await a.json(['cancel', filed.id], { as: 'deployer' });
  });

  it('while it waits it says so every minute, and rides out Ajar being down', async () => {
    const start = a.now();
    try {
      const running = gate(['--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
      const req = await pendingRequest();
      a.advance(61);
      await new Promise((ok) => setTimeout(ok, 500));
      await a.stop();
      await new Promise((ok) => setTimeout(ok, 1000));
      await a.start();
      await a.json(['approve', req.id], { as: 'bob' });
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`still waiting \\(1m\\d*s? elapsed, 28m\\d*s? left\\) for request ${req.id}: 0 of 1 from leads`));
      expect(r.stderr).toMatch(/cannot reach Ajar at .*; trying again in \d+s/);
    } finally {
      a.setClock(start);
    }
  });

  it('a cancelled request, or one that expired undecided, ends the wait with exit 1', async () => {
    const start = a.now();
    try {
      const cancelled = gate(['--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
      const c = await pendingRequest();
      await a.json(['cancel', c.id], { as: 'deployer' });
      const rc = await cancelled;
      expect(rc.code, rc.stderr).toBe(1);
      expect(rc.stderr).toContain(`refused: request ${c.id} was cancelled`);
      const expiring = gate(['--artifact', SHA, '--wait', '48h', '--poll', '0.1']);
      const e = await pendingRequest();
      a.advance(25 * 3600); // past the policy's pending_ttl (24h)
      const re = await expiring;
      expect(re.code, re.stderr).toBe(1);
      expect(re.stderr).toContain(`refused: request ${e.id} was expired`);
      // Written down now, so the clock set back does not revive it for the tests after this one.
      await a.cli(['cancel', e.id], { as: 'deployer' });
    } finally {
      a.setClock(start);
    }
  });

  it('an approval bound to a build allows that build only, never a later one', async () => {
    const running = gate(['--artifact', `registry.example/payments@${DIGEST}`, '--wait', '30m', '--poll', '0.1']);
    const req = await pendingRequest();
    expect(req.artifact).toBe(`registry.example/payments@${DIGEST}`);
    await a.json(['approve', req.id], { as: 'bob' });
    expect((await running).code).toBe(0);
    const grant = (await a.json(['grants', '--user', 'deployer'], { as: 'carol' })).find((g: any) => g.requestId === req.id);
    expect(grant.artifact).toBe(`registry.example/payments@${DIGEST}`);
    // The use is spent. A new approval for the digest: another build is refused, this one passes.
    const req2 = await a.json(['request', '--resource', 'env:payments:production', '--action', 'deploy', '--artifact', DIGEST, '--reason', 'redeploy'], { as: 'deployer' });
    await a.json(['approve', req2.id], { as: 'bob' });
    const later = await a.cli(['check', '--local', '--user', 'deployer', '--action', 'deploy', '--resource', 'env:payments:production', '--artifact', OTHER]);
    expect(later.code).toBe(1);
    expect(later.stdout).toMatch(/and artifact b{40}: grant grt_\w+ is bound to sha256:c{64}/);
    const unnamed = await a.cli(['check', '--local', '--user', 'deployer', '--action', 'deploy', '--resource', 'env:payments:production']);
    expect(unnamed.stdout).toContain('without naming the artifact');
    expect((await gate(['--artifact', OTHER])).code).toBe(1);
    // The image digest matches with or without the image's name.
    expect((await gate(['--artifact', `registry.example/payments@${DIGEST}`])).code).toBe(0);
  });

  it('a denial or a wait that runs out exits 1 with the reason; the request stays for a later decision', async () => {
    const denied = gate(['--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
    const req = await pendingRequest();
    await a.json(['deny', req.id, '--reason', 'freeze until Monday'], { as: 'bob' });
    const d = await denied;
    expect(d.code).toBe(1);
    expect(d.stderr).toContain(`request ${req.id} was denied: freeze until Monday`);

    const start = a.now();
    try {
      const timing = gate(['--artifact', SHA, '--wait', '10m', '--poll', '0.1']);
      const pending = await pendingRequest();
      a.advance(11 * 60);
      const t = await timing;
      expect(t.code).toBe(1);
      expect(t.stderr).toContain(`no decision within 10m; request ${pending.id} is still pending`);
    } finally {
      a.setClock(start);
    }
  });

  it('--with-secrets asks for read-secrets too and, once allowed, prints the secrets for eval, masked in GitHub\'s log; --uses asks for more than one deploy', async () => {
    const b = await startAjar({
      config: gitConfig((doc) => {
        doc.set('secrets', { key_env: 'AJAR_TEST_SECRETS_KEY' });
        const rules = policyRules(doc);
        const deploy = rules.find((r: any) => r.name === 'production-deploy');
        deploy.actions = ['deploy', 'read-secrets'];
        deploy.max_uses = 3;
        doc.setIn(['policy', 'rules'], rules);
      }),
      serverEnv: { AJAR_TEST_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64') },
    });
    try {
      await b.cli(['secret', 'set', 'env:payments:production', 'DB_URL'], { stdin: 'postgres://deploy@db/orders' });
      const deploy = (more: string[] = []) => b.cli(['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--with-secrets', ...more], { as: 'deployer', env: { GITHUB_ACTIONS: 'true' } });
      const running = deploy(['--wait', '30m', '--poll', '0.1', '--uses', '2']);
      let req: any;
      while (!req) {
        req = (await b.json(['requests', '--review'], { as: 'bob' })).find((x: any) => x.requester === 'deployer');
        if (!req) await new Promise((ok) => setTimeout(ok, 100));
      }
      expect(req.actions).toEqual(['deploy', 'read-secrets']);
      expect(req.maxUses).toBe(2);
      await b.json(['approve', req.id], { as: 'bob' });
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("export DB_URL=postgres://deploy@db/orders\n");
      expect(r.stderr).toContain('released 1 secret(s): DB_URL');
      // The runner masks the value before anything could print it.
      expect(r.stderr).toContain('::add-mask::postgres://deploy@db/orders\n');
      expect(r.stderr.indexOf('::add-mask::')).toBeLessThan(r.stderr.indexOf('released 1 secret(s)'));
      // Two deploys were asked for: one more passes, the third does not.
      expect((await deploy()).code).toBe(0);
      const third = await deploy();
      expect(third.code).toBe(1);
      expect(third.stdout).toBe('');
    } finally {
      await b.stop();
    }
  });

  it('an identity the policy does not let ask is refused (exit 1, not an error), and nothing is filed', async () => {
    const r = await a.cli(['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--wait', '1m'], { as: 'dave' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ajar gate: refused: this identity may not ask for deploy on env:payments:production');
    expect((await a.json(['requests', '--review'], { as: 'bob' })).filter((x: any) => x.requester === 'dave')).toEqual([]);
  });

  it('a rule with require_artifact refuses a request that names no build', async () => {
    const pending = async () => (await a.json(['requests', '--review'], { as: 'bob' })).filter((x: any) => x.requester === 'deployer').map((x: any) => x.id);
    const before = await pending();
    const bare = await a.cli(['request', '--resource', 'env:payments:production', '--action', 'deploy', '--reason', 'whatever is on main'], { as: 'deployer' });
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('artifact: rule production-deploy requires the request to be bound to one build (a commit id or image digest)');
    const g = await gate(['--no-artifact', '--wait', '1m'], github);
    expect(g.code).toBe(2);
    expect(g.stderr).toContain('rule production-deploy requires the request to be bound to one build');
    expect(await pending()).toEqual(before);
  });

  it('bad input gets a clear error', async () => {
    const r = await gate(['--artifact', 'latest', '--wait', '1m']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('artifact: give a commit id');
    expect((await gate(['--wait', 'soon'])).stderr).toContain('--wait');
  });
});

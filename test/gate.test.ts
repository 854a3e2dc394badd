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
  a = await startAjar();
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
    expect(checks.find((e: any) => e.outcome === 'allow').details).toEqual({ artifact: SHA, policyVersion: expect.stringMatching(/^[0-9a-f]{16}$/) });
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

  it('--with-secrets asks for read-secrets too and, once allowed, prints the secrets for eval', async () => {
    const b = await startAjar({
      config: gitConfig((doc) => {
        doc.set('secrets', { key_env: 'AJAR_TEST_SECRETS_KEY' });
        const rules = policyRules(doc);
        const deploy = rules.find((r: any) => r.name === 'production-deploy');
        deploy.actions = ['deploy', 'read-secrets'];
        doc.setIn(['policy', 'rules'], rules);
      }),
      serverEnv: { AJAR_TEST_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64') },
    });
    try {
      await b.cli(['secret', 'set', 'env:payments:production', 'DB_URL'], { stdin: 'postgres://deploy@db/orders' });
      const running = b.cli(['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--wait', '30m', '--poll', '0.1', '--with-secrets'], { as: 'deployer' });
      let req: any;
      while (!req) {
        req = (await b.json(['requests', '--review'], { as: 'bob' })).find((x: any) => x.requester === 'deployer');
        if (!req) await new Promise((ok) => setTimeout(ok, 100));
      }
      expect(req.actions).toEqual(['deploy', 'read-secrets']);
      await b.json(['approve', req.id], { as: 'bob' });
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("export DB_URL=postgres://deploy@db/orders\n");
      expect(r.stderr).toContain('released 1 secret(s): DB_URL');
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

  it('bad input gets a clear error', async () => {
    const r = await gate(['--artifact', 'latest', '--wait', '1m']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('artifact: give a commit id');
    expect((await gate(['--wait', 'soon'])).stderr).toContain('--wait');
  });
});

// Workload identity: a CI job's OIDC token (GitHub Actions style), signed by a
// local issuer that publishes its keys the way GitLab does (OIDC discovery →
// /oauth/discovery/keys), is the job's identity.
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, CLI, run, startAjar } from './support/ajar.js';
import { gitConfig, policyRules, tempDir } from './support/git.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

let a: Ajar;
let oidc: Server;
let issuer: string;
let key: CryptoKey;
let otherKey: CryptoKey;
const AUD = 'https://ajar.test';
const SHA = 'd'.repeat(40);
const OTHER = 'e'.repeat(40);

type Opts = { key?: CryptoKey; iss?: string; aud?: string; exp?: number | null; iat?: number | null; alg?: string };
async function token(claims: Record<string, unknown>, o: Opts = {}): Promise<string> {
  const now = Math.floor(a.now().getTime() / 1000);
  const jwt = new SignJWT({ repository: 'acme/payments', ref: 'refs/heads/main', workflow: 'deploy', sha: SHA, ...claims })
    .setProtectedHeader({ alg: o.alg ?? 'ES256', kid: 'k1' })
    .setIssuer(o.iss ?? issuer)
    .setAudience(o.aud ?? AUD)
    .setSubject('repo:acme/payments:ref:refs/heads/main');
  if (o.iat !== null) jwt.setIssuedAt(o.iat ?? now - 10);
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now + 300);
  return jwt.sign(o.key ?? key);
}

const asJob = (jwt: string, args: string[], env: Record<string, string> = {}) => a.cli(args, { env: { AJAR_URL: a.url, AJAR_TOKEN: jwt, ...env } });

async function pendingOf(requester: string): Promise<any> {
  for (;;) {
    const r = (await a.json(['requests', '--review'], { as: 'bob' })).find((x: any) => x.requester === requester && x.state === 'pending');
    if (r) return r;
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey as CryptoKey;
  otherKey = (await generateKeyPair('ES256')).privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  oidc = createServer((req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration' ? { issuer, jwks_uri: `${issuer}/oauth/discovery/keys` } : req.url === '/oauth/discovery/keys' ? { keys: [jwk] } : undefined;
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((ok) => oidc.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${(oidc.address() as { port: number }).port}`;
  const config = gitConfig((doc) => {
    // No jwks_url: the keys are found through the issuer's openid-configuration.
    doc.set('workloads', {
      issuers: { ci: { issuer, audience: AUD, max_age: '15m', type: 'github' } },
      identities: {
        'payments-main': { issuer: 'ci', claims: { repository: 'acme/payments', ref: 'refs/heads/main' }, groups: ['deployers'] },
        'payments-branches': { issuer: 'ci', claims: { repository: 'acme/payments', ref: 'refs/heads/**' } },
      },
    });
    const rules = policyRules(doc);
    // Only the main-branch pipeline may ask for a production deploy.
    rules.push({ name: 'main-deploys', who: { workloads: ['payments-main'] }, resources: ['env:payments:production'], actions: ['deploy'], max_duration: '30m', max_uses: 1, approval: { groups: ['leads'] } });
    doc.setIn(['policy', 'rules'], rules);
  });
  a = await startAjar({ config });
});
afterAll(async () => {
  await a?.stop();
  await new Promise((ok) => oidc?.close(ok));
});

describe('workload identity', () => {
  it('the main-branch pipeline is the workload payments-main, and only it may ask for a production deploy', async () => {
    const main = await token({});
    expect((await asJob(main, ['whoami', '--json'])).stdout).toContain('"name": "payments-main"');
    const gate = asJob(main, ['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
    const req = await pendingOf('payments-main');
    await a.json(['approve', req.id], { as: 'bob' });
    const g = await gate;
    expect(g.code, g.stderr).toBe(0);
    // A feature-branch pipeline of the same repository is another workload: not eligible.
    const branch = await token({ ref: 'refs/heads/feature/x' });
    expect((await asJob(branch, ['whoami', '--json'])).stdout).toContain('"name": "payments-branches"');
    const r = await asJob(branch, ['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--wait', '1m']);
    // Refused (1), not an error (2): the policy does not let this workload ask; nothing is filed.
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ajar gate: refused: this identity may not ask for deploy on env:payments:production');
    expect(r.stderr).toContain('no policy rule lets payments-branches request deploy on env:payments:production');
  });

  it('a gate waiting longer than its CI token lives keeps its identity: the token is exchanged once for a session', async () => {
    const jwt = await token({});
    const gate = asJob(jwt, ['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
    const req = await pendingOf('payments-main');
    // The CI token (5 minutes) has long expired when the lead decides.
    a.advance(20 * 60);
    try {
      expect((await asJob(jwt, ['whoami'])).code).not.toBe(0);
      await a.json(['approve', req.id], { as: 'bob' });
      const g = await gate;
      expect(g.code, g.stderr).toBe(0);
      expect(g.stderr).toContain('the CI token was exchanged for a session of workload payments-main until');
      expect(g.stderr).toMatch(/allowed by grant grt_\w+/);
      // The gate gave its session back when it was done.
      const sessions = (await a.json(['token', 'list', '--user', 'payments-main'])).filter((t: any) => t.description?.startsWith('workload session'));
      expect(sessions.length).toBeGreaterThan(0);
      expect(sessions.every((t: any) => t.revokedAt !== null)).toBe(true);
    } finally {
      a.advance(-20 * 60);
    }
  });

  it('a session carries the verified claims, cannot renew itself, and ends at its time', async () => {
    const jwt = await token({});
    const s = await a.api('POST', '/v1/workload/session', { token: jwt, body: { ttl: '10m' } });
    expect(s.status).toBe(201);
    const me = await a.api('GET', '/v1/whoami', { token: s.body.token });
    expect(me.body).toMatchObject({ name: 'payments-main', kind: 'workload', attributes: { repository: 'acme/payments', ref: 'refs/heads/main', sha: SHA } });
    // Only a CI token is exchanged: a session (or an API token) cannot extend itself.
    expect((await a.api('POST', '/v1/workload/session', { token: s.body.token, body: { ttl: '10m' } })).status).toBe(403);
    expect((await a.api('POST', '/v1/workload/session', { as: 'deployer', body: { ttl: '10m' } })).status).toBe(403);
    expect((await a.api('POST', '/v1/workload/session', { token: jwt, body: { ttl: '13h' } })).status).toBe(400);
    a.advance(11 * 60);
    try {
      expect((await a.api('GET', '/v1/whoami', { token: s.body.token })).status).toBe(401);
    } finally {
      a.advance(-11 * 60);
    }
    const created = (await a.json(['audit', '--local', '--type', 'token.created', '--user', 'payments-main'])).at(-1);
    expect(created.details).toMatchObject({ kind: 'workload-session', issuer: 'ci', tokenId: s.body.id });
  });

  it("a pipeline names only its own commit: the token's sha must be the artifact's", async () => {
    const jwt = await token({});
    const filed = await asJob(jwt, ['gate', '--resource', 'env:payments:production', '--artifact', OTHER, '--wait', '1m']);
    expect(filed.code).toBe(1);
    expect(filed.stderr).toContain(`this pipeline's token is for commit ${SHA}; it cannot deploy another commit (${OTHER})`);
    // An approval someone gave for another commit cannot be borrowed either.
    const check = await a.api('POST', '/v1/check', { token: jwt, body: { subject: 'payments-main', action: 'deploy', resource: 'env:payments:production', artifact: OTHER } });
    expect(check.body).toMatchObject({ allow: false, reason: expect.stringContaining(`token is for commit ${SHA}`) });
  });

  it('refuses expired, wrong-audience, wrong-issuer, foreign-key, unsigned, unmatched, timeless and stale tokens', async () => {
    const now = Math.floor(a.now().getTime() / 1000);
    const bad = {
      expired: await token({}, { exp: now - 120 }),
      audience: await token({}, { aud: 'https://someone-else' }),
      issuer: await token({}, { iss: 'https://evil.example' }),
      key: await token({}, { key: otherKey }),
      unmatched: await token({ repository: 'acme/other' }),
      'no exp': await token({}, { exp: null }),
      'no iat': await token({}, { iat: null }),
      // Issued longer ago than the issuer's max_age (15m), though not expired.
      stale: await token({}, { iat: now - 16 * 60, exp: now + 3600 }),
      unsigned: (() => {
        const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
        return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: issuer, aud: AUD, repository: 'acme/payments', ref: 'refs/heads/main', iat: now, exp: now + 300 })}.`;
      })(),
    };
    for (const [why, jwt] of Object.entries(bad)) {
      const r = await asJob(jwt, ['whoami']);
      expect(r.code, why).not.toBe(0);
      expect(r.stderr, why).toContain('the API token is invalid');
    }
    // Time is Ajar's clock: a token is refused once the server's clock passes its expiry.
    const fresh = await token({});
    a.advance(600);
    try {
      expect((await asJob(fresh, ['whoami'])).code).not.toBe(0);
    } finally {
      a.advance(-600);
    }
  });

  it('a workload is disabled like anyone, sessions included, and gets no Ajar token of its own', async () => {
    const s = await a.api('POST', '/v1/workload/session', { token: await token({}), body: { ttl: '10m' } });
    expect((await a.cli(['user', 'disable', 'payments-main', '--reason', 'compromised runner'])).code).toBe(0);
    expect((await asJob(await token({}), ['whoami'])).code).not.toBe(0);
    expect((await a.api('GET', '/v1/whoami', { token: s.body.token })).status).toBe(401);
    await a.cli(['user', 'enable', 'payments-main']);
    expect((await asJob(await token({}), ['whoami'])).code).toBe(0);
    const t = await a.cli(['token', 'create', '--user', 'payments-main']);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('is a workload');
  });

  it('config check refuses a GitHub or GitLab workload that names no repository or project, and keys over plain http', async () => {
    const check = async (workloads: object) => {
      const file = join(tempDir('wlconfig-'), 'ajar.yaml');
      writeFileSync(file, gitConfig((doc) => doc.set('workloads', workloads)));
      return run(process.execPath, [CLI, 'config', 'check', file], process.env);
    };
    const github = { issuer: 'https://token.actions.githubusercontent.com', audience: AUD };
    const anyRepo = await check({ issuers: { gh: github }, identities: { prod: { issuer: 'gh', claims: { ref: 'refs/heads/main', environment: 'production' } } } });
    expect(anyRepo.code).toBe(1);
    expect(anyRepo.stderr).toMatch(/ajar\.yaml:\d+:\d+: a GitHub workload/);
    expect(anyRepo.stderr).toContain('a GitHub workload must match one of the claims repository, repository_id, repository_owner, repository_owner_id');
    const wildcard = await check({ issuers: { gh: github }, identities: { prod: { issuer: 'gh', claims: { repository: '*/payments' } } } });
    expect(wildcard.stderr).toContain('start with the literal owner (e.g. acme/payments or acme/*), not a wildcard');
    const gitlab = await check({ issuers: { gl: { issuer: 'https://gitlab.com', audience: AUD } }, identities: { prod: { issuer: 'gl', claims: { ref: 'main' } } } });
    expect(gitlab.stderr).toContain('a GitLab workload must match one of the claims project_path, project_id, namespace_path, namespace_id');
    const http = await check({ issuers: { x: { issuer: 'http://ci.example.com', audience: AUD } }, identities: {} });
    expect(http.stderr).toContain('use https (plain http only on loopback)');
    const good = await check({ issuers: { gh: github, gl: { issuer: 'https://gitlab.com', audience: AUD } }, identities: { a1: { issuer: 'gh', claims: { repository: 'acme/payments', ref: 'refs/heads/main' } }, a2: { issuer: 'gl', claims: { project_path: 'acme/*' } } } });
    expect(good.code, good.stderr).toBe(0);
  });
});

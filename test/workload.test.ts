// Workload identity: a CI job's OIDC token (GitHub Actions style), signed by a
// local issuer whose JWKS a local server publishes, is the job's identity.
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { gitConfig, policyRules } from './support/git.js';

let a: Ajar;
let jwks: Server;
let issuer: string;
let key: CryptoKey;
let otherKey: CryptoKey;
const AUD = 'https://ajar.test';
const SHA = 'd'.repeat(40);

async function token(claims: Record<string, unknown>, o: { key?: CryptoKey; iss?: string; aud?: string; exp?: number; alg?: string } = {}): Promise<string> {
  const now = Math.floor(a.now().getTime() / 1000);
  return new SignJWT({ repository: 'acme/payments', ref: 'refs/heads/main', workflow: 'deploy', ...claims })
    .setProtectedHeader({ alg: o.alg ?? 'ES256', kid: 'k1' })
    .setIssuer(o.iss ?? issuer)
    .setAudience(o.aud ?? AUD)
    .setSubject('repo:acme/payments:ref:refs/heads/main')
    .setIssuedAt(now - 10)
    .setExpirationTime(o.exp ?? now + 300)
    .sign(o.key ?? key);
}

const asJob = (jwt: string, args: string[]) => a.cli(args, { env: { AJAR_URL: a.url, AJAR_TOKEN: jwt } });

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey as CryptoKey;
  otherKey = (await generateKeyPair('ES256')).privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((req, res) => {
    res.writeHead(req.url === '/.well-known/jwks' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((ok) => jwks.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
  const config = gitConfig((doc) => {
    doc.set('workloads', {
      issuers: { ci: { issuer, audience: AUD } },
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
  await new Promise((ok) => jwks?.close(ok));
});

describe('workload identity', () => {
  it('the main-branch pipeline is the workload payments-main, and only it may ask for a production deploy', async () => {
    const main = await token({});
    expect((await asJob(main, ['whoami', '--json'])).stdout).toContain('"name": "payments-main"');
    const gate = asJob(main, ['gate', '--resource', 'env:payments:production', '--artifact', SHA, '--wait', '30m', '--poll', '0.1']);
    let req: any;
    while (!req) {
      req = (await a.json(['requests', '--review'], { as: 'bob' })).find((r: any) => r.requester === 'payments-main');
      if (!req) await new Promise((ok) => setTimeout(ok, 100));
    }
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

  it('refuses expired, wrong-audience, wrong-issuer, foreign-key, unsigned and unmatched tokens', async () => {
    const now = Math.floor(a.now().getTime() / 1000);
    const bad = {
      expired: await token({}, { exp: now - 120 }),
      audience: await token({}, { aud: 'https://someone-else' }),
      issuer: await token({}, { iss: 'https://evil.example' }),
      key: await token({}, { key: otherKey }),
      unmatched: await token({ repository: 'acme/other' }),
      unsigned: (() => {
        const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
        return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: issuer, aud: AUD, repository: 'acme/payments', ref: 'refs/heads/main', exp: now + 300 })}.`;
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

  it('a workload is disabled like anyone, and gets no Ajar token of its own', async () => {
    expect((await a.cli(['user', 'disable', 'payments-main', '--reason', 'compromised runner'])).code).toBe(0);
    expect((await asJob(await token({}), ['whoami'])).code).not.toBe(0);
    await a.cli(['user', 'enable', 'payments-main']);
    expect((await asJob(await token({}), ['whoami'])).code).toBe(0);
    const t = await a.cli(['token', 'create', '--user', 'payments-main']);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('is a workload');
  });
});

// The shared security suite: every API route refuses missing, wrong, expired
// and revoked tokens and disabled users the same way; admin routes refuse
// non-admins; secrets never reach the log.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../src/http/server-app.js';
import { type Ajar, startAjar } from './support/ajar.js';

let ajar: Ajar;
const tokens: Record<string, string> = {};
beforeAll(async () => {
  ajar = await startAjar();
  for (const u of ['alice', 'erin', 'carol']) tokens[u] = await ajar.token(u);
  const short = await ajar.cli(['token', 'create', '--user', 'dave', '--ttl', '1h']);
  tokens.expired = short.stdout.trim();
  const revoked = await ajar.json(['token', 'create', '--user', 'bob']);
  await ajar.cli(['token', 'revoke', revoked.id]);
  tokens.revoked = revoked.token;
  await ajar.cli(['user', 'disable', 'erin']);
  ajar.advance(2 * 3600);
});
afterAll(() => ajar?.stop());

const concrete = (path: string) => path.replace(/:([a-z]+)/gi, 'x');
const protectedRoutes = ROUTES.filter((r) => !r.public);

describe('every API route', () => {
  const cases: [string, () => Record<string, string>][] = [
    ['no token', () => ({})],
    ['a malformed token', () => ({ authorization: 'Bearer not-a-token' })],
    ['an unknown token', () => ({ authorization: 'Bearer ajar_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })],
    ['an expired token', () => ({ authorization: `Bearer ${tokens.expired}` })],
    ['a revoked token', () => ({ authorization: `Bearer ${tokens.revoked}` })],
    ['a disabled user\'s token', () => ({ authorization: `Bearer ${tokens.erin}` })],
    ['Basic auth naming another user', () => ({ authorization: `Basic ${Buffer.from(`bob:${tokens.alice}`).toString('base64')}` })],
  ];
  for (const [what, headers] of cases) {
    it(`refuses ${what} with 401 and one error shape`, async () => {
      for (const r of protectedRoutes) {
        const res = await fetch(ajar.url + concrete(r.path), {
          method: r.method.toUpperCase(),
          headers: { ...headers(), 'content-type': 'application/json' },
          body: r.method === 'get' ? null : '{}',
        });
        const body = await res.json();
        expect(res.status, `${r.method} ${r.path}`).toBe(401);
        expect(body.error.code).toBe('unauthenticated');
        expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'requestId']);
      }
    });
  }

  it("the gateway hook's route takes only a push session: API tokens, unknown sessions and none are refused", async () => {
    const body = `repo payments\nupdate ${'0'.repeat(40)} ${'a'.repeat(40)} refs/heads/main\n`;
    const ask = async (authorization?: string) => {
      const res = await fetch(`${ajar.url}/v1/git/pre-receive`, { method: 'POST', headers: { 'content-type': 'text/plain', ...(authorization ? { authorization } : {}) }, body });
      return { status: res.status, text: await res.text() };
    };
    for (const authorization of [undefined, `Bearer ${tokens.alice}`, `Bearer ${tokens.carol}`, 'Bearer pss_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      expect(await ask(authorization)).toEqual({ status: 401, text: 'deny\nthe hook presented no push session\n' });
    }
    const unknown = await ask('Bearer ajps_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(unknown.text).toMatch(/^deny\n.*session/);
  });

  it('accepts Basic auth with the user name and token, as git and hg send it', async () => {
    const res = await fetch(`${ajar.url}/v1/whoami`, { headers: { authorization: `Basic ${Buffer.from(`alice:${tokens.alice}`).toString('base64')}` } });
    expect(res.status).toBe(200);
    expect((await res.json()).name).toBe('alice');
  });

  it('admin routes refuse a non-admin', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/users'],
      ['GET', '/v1/audit'],
      ['GET', '/v1/audit/verify'],
      ['POST', '/v1/tokens', { user: 'alice' }],
      ['POST', '/v1/users/bob/disable', {}],
      ['POST', '/v1/grants/revoke', { resource: 'git:payments' }],
      ['POST', '/v1/secrets/reseal', {}],
    ] as const) {
      const r = await ajar.api(method, path, { token: tokens.alice, ...(body ? { body } : {}) });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    expect((await ajar.api('POST', '/v1/check', { token: tokens.alice, body: { subject: 'bob', action: 'read', resource: 'git:payments' } })).status).toBe(403);
  });

  it('publishes an OpenAPI document listing every route', async () => {
    const r = await ajar.api('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    for (const route of ROUTES) {
      expect(r.body.paths[route.path.replace(/:([a-z]+)/gi, '{$1}')]?.[route.method], `${route.method} ${route.path}`).toBeDefined();
    }
    expect(r.body.paths['/v1/requests'].post.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['resources', 'actions', 'reason']));
  });

  it('refuses bodies over 1 MiB before reading them whole', async () => {
    const big = JSON.stringify({ resources: ['git:payments'], actions: ['read'], reason: 'x'.repeat(2 * 1024 * 1024) });
    const r = await ajar.api('POST', '/v1/requests', { token: tokens.alice, raw: big });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('invalid_argument');
  });

  it('logs each request by path, never its query values', async () => {
    const r = await ajar.api('GET', '/v1/grants?resource=git:payments:query-secret-value', { token: tokens.alice });
    expect(r.status).toBe(200);
    expect(ajar.serverLog()).toContain('"path":"/v1/grants"');
    expect(ajar.serverLog()).not.toContain('query-secret-value');
  });

  it('never writes a token to the log, and keeps the admin socket private', async () => {
    for (const t of Object.values(tokens)) expect(ajar.serverLog()).not.toContain(t);
    const mode = statSync(join(ajar.dataDir, 'ajar.sock')).mode & 0o777;
    expect(mode & 0o077).toBe(0);
  });

  it('stores tokens only as hashes', async () => {
    if (!ajar.databaseUrl) await ajar.stop();
    const rows = await ajar.sql('select secret_hash from api_tokens');
    if (!ajar.databaseUrl) await ajar.start();
    expect(rows.length).toBeGreaterThan(3);
    const dump = JSON.stringify(rows);
    for (const t of Object.values(tokens)) expect(dump).not.toContain(t.slice(5));
    expect(rows.every((r: any) => /^[0-9a-f]{64}$/.test(r.secret_hash))).toBe(true);
  });
});

// Signed access tokens: a short-lived JWT for an active grant that a service
// verifies with Ajar's published JWKS, and can ask Ajar about (introspection)
// to learn at once that its grant was revoked.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { gitConfig, tempDir } from './support/git.js';

let a: Ajar;
let dir: string;

function keyFile(name: string): string {
  const file = join(dir, name);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return file;
}
const tokenConfig = (tokens: Record<string, unknown>) => gitConfig((doc) => doc.set('credentials', { tokens: { issuer: 'https://ajar.test', ...tokens } }));

beforeAll(async () => {
  dir = tempDir('signing-');
  a = await startAjar({ config: tokenConfig({ signing_key_file: keyFile('first.pem') }) });
});
afterAll(() => a?.stop());

const introspect = async (token: string) => (await a.api('POST', '/v1/credentials/token/introspect', { as: 'deployer', body: { token } })).body;

describe('signed access tokens', () => {
  it('are issued only for an active grant, live 15 minutes at most, and verify with the published JWKS until then', async () => {
    const none = await a.cli(['credentials', 'token', '--resource', 'git:payments', '--action', 'read'], { as: 'alice' });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('no active grant for read on git:payments');
    const req = await a.json(['request', '--resource', 'git:payments', '--action', 'read', '--duration', '1h', '--reason', 'x'], { as: 'alice' });
    const t = await a.json(['credentials', 'token', '--resource', 'git:payments', '--action', 'read'], { as: 'alice' });
    const keys = createRemoteJWKSet(new URL(`${a.url}/.well-known/jwks.json`));
    const at = a.now();
    const { payload, protectedHeader } = await jwtVerify(t.token, keys, { issuer: 'https://ajar.test', audience: 'git:payments', currentDate: at });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: 'alice', act: 'read', grant: req.grantId });
    // The default ttl, not the grant's hour: a service that only checks signatures honours a revocation within 15 minutes.
    expect(new Date(payload.exp! * 1000).toISOString()).toBe(t.expiresAt);
    expect(new Date(t.expiresAt).getTime() - at.getTime()).toBe(15 * 60_000);
    // After that, and for another audience, it does not verify.
    await expect(jwtVerify(t.token, keys, { issuer: 'https://ajar.test', audience: 'git:payments', currentDate: new Date(at.getTime() + 16 * 60_000) })).rejects.toThrow(/exp/);
    await expect(jwtVerify(t.token, keys, { issuer: 'https://ajar.test', audience: 'git:other', currentDate: at })).rejects.toThrow();
    const ev = await a.json(['audit', '--local', '--type', 'credential.issued']);
    expect(ev.at(-1)).toMatchObject({ subject: 'alice', grantId: req.grantId, requestId: req.id, details: { kind: 'access-token', jti: payload.jti } });
    expect(JSON.stringify(ev)).not.toContain(t.token);
  });

  it('introspection says at once when the grant was revoked, and the revocation is audited by jti', async () => {
    const req = await a.json(['request', '--resource', 'git:payments', '--action', 'read', '--duration', '1h', '--reason', 'y'], { as: 'erin' });
    const t = await a.json(['credentials', 'token', '--resource', 'git:payments', '--action', 'read'], { as: 'erin' });
    expect(await introspect(t.token)).toMatchObject({ active: true, sub: 'erin', aud: 'git:payments', act: 'read', grant: req.grantId, token_type: 'access_token' });
    await a.json(['revoke', req.grantId, '--reason', 'done early']);
    // No sweep needed: the grant is read at each question.
    expect(await introspect(t.token)).toEqual({ active: false });
    let revoked: any;
    for (let i = 0; i < 100 && !revoked; i++) {
      revoked = (await a.json(['audit', '--local', '--type', 'credential.revoked', '--user', 'erin']))[0];
      if (!revoked) await new Promise((ok) => setTimeout(ok, 100));
    }
    const jti = JSON.parse(Buffer.from(t.token.split('.')[1], 'base64url').toString()).jti;
    expect(revoked).toMatchObject({ grantId: req.grantId, requestId: req.id, reason: 'the grant was revoked', details: { kind: 'access-token', jti } });
    // Forged, foreign or garbled tokens get the same answer; asking needs an Ajar identity.
    const [h, p] = t.token.split('.');
    expect(await introspect(`${h}.${p}.${'A'.repeat(86)}`)).toEqual({ active: false });
    expect(await introspect('not-a-token')).toEqual({ active: false });
    expect((await a.api('POST', '/v1/credentials/token/introspect', { body: { token: t.token } })).status).toBe(401);
  });

  it('a rotated key keeps verifying the tokens it signed: the previous key stays in the JWKS, never signing', async () => {
    await a.json(['request', '--resource', 'git:payments', '--action', 'read', '--duration', '1h', '--reason', 'z'], { as: 'alice' });
    const old = await a.json(['credentials', 'token', '--resource', 'git:payments', '--action', 'read'], { as: 'alice' });
    const first = join(dir, 'first.pem');
    await a.stop();
    writeFileSync(a.configFile, tokenConfig({ signing_key_file: keyFile('second.pem'), previous_key_files: [first] }));
    await a.start();
    const jwks = (await a.api('GET', '/.well-known/jwks.json')).body.keys;
    expect(jwks).toHaveLength(2);
    const fresh = await a.json(['credentials', 'token', '--resource', 'git:payments', '--action', 'read'], { as: 'alice' });
    expect(decodeProtectedHeader(fresh.token).kid).toBe(jwks[0].kid);
    expect(decodeProtectedHeader(old.token).kid).toBe(jwks[1].kid);
    const keys = createRemoteJWKSet(new URL(`${a.url}/.well-known/jwks.json`));
    for (const t of [old, fresh]) await jwtVerify(t.token, keys, { issuer: 'https://ajar.test', audience: 'git:payments', currentDate: a.now() });
    expect((await introspect(old.token)).active).toBe(true);
  });
});

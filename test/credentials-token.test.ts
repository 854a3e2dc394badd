// Signed access tokens: a JWT for an active grant, expiring with it, that a
// service verifies with Ajar's published JWKS.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { gitConfig, tempDir } from './support/git.js';

let a: Ajar;

beforeAll(async () => {
  const keyFile = join(tempDir('signing-'), 'signing.pem');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  a = await startAjar({ config: gitConfig((doc) => doc.set('credentials', { tokens: { signing_key_file: keyFile, issuer: 'https://ajar.test' } })) });
});
afterAll(() => a?.stop());

describe('signed access tokens', () => {
  it('are issued only for an active grant, and verify with the published JWKS until the grant ends', async () => {
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
    expect(new Date(payload.exp! * 1000).toISOString()).toBe(t.expiresAt);
    // After the grant's end, and for another audience, it does not verify.
    await expect(jwtVerify(t.token, keys, { issuer: 'https://ajar.test', audience: 'git:payments', currentDate: new Date(at.getTime() + 3601_000) })).rejects.toThrow(/exp/);
    await expect(jwtVerify(t.token, keys, { issuer: 'https://ajar.test', audience: 'git:other', currentDate: at })).rejects.toThrow();
    const ev = await a.json(['audit', '--local', '--type', 'credential.issued']);
    expect(ev.at(-1)).toMatchObject({ subject: 'alice', details: { kind: 'access-token' } });
    expect(JSON.stringify(ev)).not.toContain(t.token);
  });
});

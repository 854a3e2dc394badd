// Signed access tokens: a JWT (ES256) saying "SUBJECT may ACTION on RESOURCE",
// for an active grant, that expires when the grant ends (exp = its end, nbf =
// its start, aud = the resource). Services verify it with Ajar's public key,
// published at /.well-known/jwks.json. The signing key is a file the operator
// makes; Ajar never generates a default one.
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, importPKCS8, type JWK, SignJWT } from 'jose';
import { createPublicKey } from 'node:crypto';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource, validateAction } from '../domain/resource.js';
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, newId } from './context.js';
import { requireGrant } from './grants.js';

interface SigningKey {
  key: Awaited<ReturnType<typeof importPKCS8>>;
  jwk: JWK;
}
const keys = new Map<string, Promise<SigningKey>>();

function signingKey(file: string): Promise<SigningKey> {
  let k = keys.get(file);
  if (!k) {
    k = (async () => {
      let pem: string;
      try {
        pem = readFileSync(file, 'utf8');
      } catch {
        throw new AppError('unavailable', 'the token signing key file cannot be read (config credentials.tokens.signing_key_file)');
      }
      const key = await importPKCS8(pem, 'ES256');
      const pub = await exportJWK(createPublicKey(pem));
      const kid = await calculateJwkThumbprint(pub);
      return { key, jwk: { ...pub, kid, alg: 'ES256', use: 'sig' } };
    })();
    k.catch(() => keys.delete(file));
    keys.set(file, k);
  }
  return k;
}

/** The public keys, for /.well-known/jwks.json (empty when tokens are not configured). */
export async function jwks(ctx: AppContext): Promise<{ keys: JWK[] }> {
  const t = ctx.config.credentials.tokens;
  return { keys: t ? [(await signingKey(t.signingKeyFile)).jwk] : [] };
}

export async function issueAccessToken(ctx: AppContext, actor: Actor, input: { resource: string; action: string }): Promise<{ token: string; expiresAt: string; grantId: string }> {
  const t = ctx.config.credentials.tokens;
  if (!t) throw badInput('Ajar signs no access tokens here (config credentials.tokens)');
  const p = parseResource(input.resource);
  if (!p.ok) throw badInput(`resource: ${p.error}`, { field: 'resource' });
  const v = validateAction(p.value, input.action);
  if (!v.ok) throw badInput(`action: ${v.error}`, { field: 'action' });
  const { key, jwk } = await signingKey(t.signingKeyFile);
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    const g = await requireGrant(tx, actor.name, input.action, p.value, now);
    const jti = newId('tok');
    const resource = canonicalResource(p.value);
    const token = await new SignJWT({ act: input.action, grant: g.id })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid!, typ: 'JWT' })
      .setIssuer(t.issuer)
      .setSubject(actor.name)
      .setAudience(resource)
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setNotBefore(Math.floor(new Date(g.starts_at).getTime() / 1000))
      .setExpirationTime(Math.floor(new Date(g.ends_at).getTime() / 1000))
      .setJti(jti)
      .sign(key);
    await appendAudit(tx, now, [
      { type: 'credential.issued', actor: actor.name, subject: actor.name, grantId: g.id, requestId: g.request_id, resource, action: input.action, details: { kind: 'access-token', jti, expiresAt: new Date(g.ends_at).toISOString() } },
    ]);
    return { token, expiresAt: new Date(g.ends_at).toISOString(), grantId: g.id };
  });
}

// Signed access tokens: a JWT (ES256) saying "SUBJECT may ACTION on RESOURCE",
// for an active grant (aud = the resource, nbf = the grant's start). A token
// lives credentials.tokens.ttl (15 minutes by default) or until the grant's
// end if sooner: a service that only checks the signature honours a revoked
// grant for at most that long. A service that must know at once asks Ajar
// (introspectToken, RFC 7662 style, keyed by the token's jti). Services verify
// with Ajar's public keys at /.well-known/jwks.json (the current key, and the
// previous ones after a rotation). The signing key is a file the operator
// makes; Ajar never generates a default one.
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, importPKCS8, type JWK, jwtVerify, SignJWT } from 'jose';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource, validateAction } from '../domain/resource.js';
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, newId } from './context.js';
import { ENDED_EARLY } from './credential-sweep.js';
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
        throw new AppError('unavailable', 'a token signing key file cannot be read (config credentials.tokens)');
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

/** The public keys, for /.well-known/jwks.json (empty when tokens are not configured): the signing key first. */
export async function jwks(ctx: AppContext): Promise<{ keys: JWK[] }> {
  const t = ctx.config.credentials.tokens;
  if (!t) return { keys: [] };
  return { keys: await Promise.all([t.signingKeyFile, ...t.previousKeyFiles].map(async (f) => (await signingKey(f)).jwk)) };
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
    const { grant: g } = await requireGrant(tx, actor, input.action, p.value, now);
    const jti = newId('tok');
    const resource = canonicalResource(p.value);
    const expiresAt = new Date(Math.min(new Date(g.ends_at).getTime(), now.getTime() + t.ttlSeconds * 1000));
    const token = await new SignJWT({ act: input.action, grant: g.id })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid!, typ: 'JWT' })
      .setIssuer(t.issuer)
      .setSubject(actor.name)
      .setAudience(resource)
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setNotBefore(Math.floor(new Date(g.starts_at).getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .setJti(jti)
      .sign(key);
    // Recorded by jti: introspection and the sweep's credential.revoked find it.
    await tx.insertInto('credentials').values({ id: newId('crd'), grant_id: g.id, subject: actor.name, kind: 'access-token', target: resource, name: jti, issued_at: now, expires_at: expiresAt }).execute();
    await appendAudit(tx, now, [
      { type: 'credential.issued', actor: actor.name, subject: actor.name, grantId: g.id, requestId: g.request_id, resource, action: input.action, details: { kind: 'access-token', jti, expiresAt: expiresAt.toISOString() } },
    ]);
    return { token, expiresAt: expiresAt.toISOString(), grantId: g.id };
  });
}

/**
 * Is this token good now? Signed by Ajar (current or previous key), not expired
 * on Ajar's clock, and its grant neither ended nor revoked or released. The
 * answer for anything else is `{ active: false }`, with no reason (RFC 7662).
 */
export async function introspectToken(ctx: AppContext, token: string): Promise<Record<string, unknown>> {
  const t = ctx.config.credentials.tokens;
  if (!t) return { active: false };
  const now = ctx.clock.now();
  let payload;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(await jwks(ctx)), { issuer: t.issuer, algorithms: ['ES256'], currentDate: now, requiredClaims: ['jti', 'exp', 'sub', 'aud'] }));
  } catch {
    return { active: false };
  }
  const row = await ctx.db
    .selectFrom('credentials')
    .innerJoin('grants', 'grants.id', 'credentials.grant_id')
    .select(['credentials.revoked_at', 'grants.state', 'grants.ends_at'])
    .where('credentials.kind', '=', 'access-token')
    .where('credentials.name', '=', String(payload.jti))
    .executeTakeFirst();
  const live = row && !row.revoked_at && !(ENDED_EARLY as readonly string[]).includes(row.state) && row.state !== 'expired' && new Date(row.ends_at) > now;
  if (!live) return { active: false };
  return { active: true, iss: payload.iss, sub: payload.sub, aud: payload.aud, act: payload.act, grant: payload.grant, jti: payload.jti, iat: payload.iat, nbf: payload.nbf, exp: payload.exp, token_type: 'access_token' };
}

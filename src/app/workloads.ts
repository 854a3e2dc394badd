// Workload identity: a CI job proves who it is with the OIDC token its CI
// issues (GitHub Actions, GitLab id_tokens), signed by a configured issuer. The
// claims (repository, ref, environment, workflow, ...) are mapped to a workload
// the policy names. Tokens are verified against the issuer's JWKS (configured,
// or found by OIDC discovery), with its issuer and the configured audience, on
// Ajar's clock; they must carry exp and iat and be younger than the issuer's
// max_age; unsigned tokens (`alg: none`) and unexpected algorithms are refused.
//
// CI tokens live minutes (GitHub's about five), a gate may wait half an hour:
// the job exchanges its token once for a short-lived Ajar session bound to the
// workload and its verified claims (exchangeWorkloadToken).
import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import type { WorkloadIssuer } from '../config.js';
import { AppError, badInput } from '../domain/errors.js';
import { globMatch } from '../domain/glob.js';
import { insecureUrlProblem, looksLikeJwt } from '../domain/workload-claims.js';

export { looksLikeJwt };
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, activeIdentity, inTransaction, newId, sha256 } from './context.js';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
type KeySet = ReturnType<typeof createRemoteJWKSet>;
const jwksCache = new Map<string, KeySet>();
/** Discovered jwks_uri per issuer, and when to look again (a failed discovery is retried after a short pause). */
const discovered = new Map<string, { url: Promise<string>; until: number }>();
const DISCOVERY_TTL_MS = 3600_000;
const DISCOVERY_RETRY_MS = 30_000;

export const SESSION_PREFIX = 'ajar_';
const SESSION_MAX_S = 12 * 3600;


function keySet(url: string): KeySet {
  let set = jwksCache.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    jwksCache.set(url, set);
  }
  return set;
}

/** OIDC discovery: the issuer's own openid-configuration names its keys (GitLab's are at /oauth/discovery/keys). */
async function discoverJwksUrl(issuer: string): Promise<string> {
  const res = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000), redirect: 'error' });
  if (!res.ok) throw new Error(`openid-configuration: HTTP ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  // The document must be the issuer's own (OpenID Connect Discovery 1.0, section 4.3).
  if (typeof doc.issuer !== 'string' || doc.issuer.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) throw new Error('openid-configuration names another issuer');
  if (typeof doc.jwks_uri !== 'string' || insecureUrlProblem(doc.jwks_uri)) throw new Error('openid-configuration has no usable https jwks_uri');
  return doc.jwks_uri;
}

async function keysOf(i: WorkloadIssuer): Promise<KeySet> {
  if (i.jwksUrl) return keySet(i.jwksUrl);
  let d = discovered.get(i.issuer);
  if (!d || d.until < Date.now()) {
    const url = discoverJwksUrl(i.issuer);
    d = { url, until: Date.now() + DISCOVERY_TTL_MS };
    discovered.set(i.issuer, d);
    url.catch(() => discovered.set(i.issuer, { url, until: Date.now() + DISCOVERY_RETRY_MS }));
  }
  return keySet(await d.url);
}

/** The workload a verified token's claims name: the first whose every claim matches. */
export function workloadFor(ctx: AppContext, issuer: string, claims: Record<string, unknown>): string | undefined {
  return ctx.config.workloads.identities.find(
    (w) => w.issuer === issuer && Object.entries(w.claims).every(([k, pattern]) => typeof claims[k] === 'string' && globMatch(pattern, claims[k] as string)),
  )?.name;
}

/** The claims a workload carries (for the audit log, CEL conditions and the artifact check): its string claims but iss, aud and jti. */
function attributesOf(payload: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload)) if (typeof v === 'string' && k !== 'iss' && k !== 'aud' && k !== 'jti') out[k] = v;
  return out;
}

/** The workload an issuer's claims name, if it is enabled, as an actor. */
async function workloadActor(ctx: AppContext, issuer: string, claims: Record<string, unknown>): Promise<Actor | undefined> {
  const name = workloadFor(ctx, issuer, claims);
  // Disabled with `ajar user disable` like anyone else.
  const id = name ? await activeIdentity(ctx, ctx.db, name) : undefined;
  return id ? { ...id, attributes: attributesOf(claims), via: 'token' } : undefined;
}

/** A verified CI token → its issuer's name and claims, or undefined (logged why, never the token). */
async function verifyCiToken(ctx: AppContext, token: string): Promise<{ issuer: string; claims: JWTPayload } | undefined> {
  let iss: string | undefined;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    return undefined;
  }
  const issuer = [...ctx.config.workloads.issuers.values()].find((i) => i.issuer === iss);
  if (!issuer) {
    ctx.log.info({ iss }, 'workload token from an issuer Ajar does not know');
    return undefined;
  }
  try {
    const { payload } = await jwtVerify(token, await keysOf(issuer), {
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: ALGORITHMS,
      currentDate: ctx.clock.now(),
      clockTolerance: 30,
      // A token without an expiry would be good forever; an old one is a replay.
      requiredClaims: ['exp', 'iat'],
      maxTokenAge: issuer.maxAgeSeconds,
    });
    return { issuer: issuer.name, claims: payload };
  } catch (e) {
    ctx.log.info({ issuer: issuer.name, why: (e as { code?: string }).code ?? (e as Error).message }, 'workload token refused');
    return undefined;
  }
}

export async function authenticateWorkload(ctx: AppContext, token: string): Promise<Actor | undefined> {
  const v = await verifyCiToken(ctx, token);
  if (!v) return undefined;
  const actor = await workloadActor(ctx, v.issuer, v.claims);
  if (!actor) ctx.log.info({ issuer: v.issuer, sub: v.claims.sub }, 'workload token matches no configured workload');
  return actor;
}

/**
 * A workload session's identity: the claims it was exchanged for must still
 * name the same enabled workload under the current config.
 */
export async function sessionActor(ctx: AppContext, subject: string, stored: unknown): Promise<Actor | undefined> {
  const s = (typeof stored === 'string' ? JSON.parse(stored) : stored) as { issuer?: string; claims?: Record<string, unknown> } | null;
  if (!s?.issuer || !s.claims) return undefined;
  const actor = await workloadActor(ctx, s.issuer, s.claims);
  return actor?.name === subject ? actor : undefined;
}

/**
 * Exchange a verified CI token (never a session: a session cannot renew itself)
 * for an Ajar session of the same workload, for `ttlSeconds` (at most 12h).
 * The secret is returned once; only its hash is stored.
 */
export async function exchangeWorkloadToken(ctx: AppContext, ciToken: string | undefined, ttlSeconds: number): Promise<{ token: string; id: string; subject: string; expiresAt: string }> {
  if (!ciToken || !looksLikeJwt(ciToken)) throw new AppError('permission_denied', "only a CI job's OIDC token can be exchanged for a workload session");
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > SESSION_MAX_S) throw badInput('ttl: between 1m and 12h', { field: 'ttl' });
  const v = await verifyCiToken(ctx, ciToken);
  const actor = v && (await workloadActor(ctx, v.issuer, v.claims));
  if (!v || !actor) throw new AppError('unauthenticated', 'the API token is invalid, expired or revoked, or its user is disabled');
  const now = ctx.clock.now();
  const secret = `${SESSION_PREFIX}${randomBytes(32).toString('base64url')}`;
  const row = {
    id: newId('tok'),
    subject: actor.name,
    secret_hash: sha256(secret),
    description: `workload session (${v.issuer}${typeof v.claims.sub === 'string' ? ` ${v.claims.sub.slice(0, 200)}` : ''})`,
    created_by: actor.name,
    created_at: now,
    expires_at: new Date(now.getTime() + ttlSeconds * 1000),
    claims: JSON.stringify({ issuer: v.issuer, claims: v.claims }),
  };
  await inTransaction(ctx, async (tx) => {
    await tx.insertInto('api_tokens').values(row).execute();
    await appendAudit(tx, now, [
      { type: 'token.created', actor: actor.name, subject: actor.name, details: { tokenId: row.id, kind: 'workload-session', issuer: v.issuer, jti: v.claims.jti ?? null, expiresAt: row.expires_at.toISOString() } },
    ]);
  });
  return { token: secret, id: row.id, subject: actor.name, expiresAt: row.expires_at.toISOString() };
}

const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * A workload's token says which commit its pipeline runs (GitHub and GitLab: `sha`).
 * It may name only that commit as the artifact it deploys: a compromised job
 * must not borrow an approval given to another build. Image digests are not
 * comparable to a commit and are left to the approval's binding.
 */
export function workloadArtifactProblem(actor: Actor, artifact: string | undefined): string | undefined {
  const sha = actor.kind === 'workload' ? actor.attributes.sha : undefined;
  if (!sha || artifact === undefined || !COMMIT.test(artifact) || artifact === sha.toLowerCase()) return undefined;
  return `this pipeline's token is for commit ${sha}; it cannot deploy another commit (${artifact})`;
}

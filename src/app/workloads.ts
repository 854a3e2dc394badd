// Workload identity: a CI job proves who it is with the OIDC token its CI
// issues (GitHub Actions, GitLab id_tokens), signed by a configured issuer. The
// claims (repository, ref, environment, workflow, ...) are mapped to a workload
// the policy names. Tokens are verified against the issuer's JWKS, with its
// issuer and the configured audience, on Ajar's clock; unsigned tokens
// (`alg: none`) and unexpected algorithms are refused.
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import type { WorkloadIssuer } from '../config.js';
import { globMatch } from '../domain/glob.js';
import { type Actor, type AppContext, activeIdentity } from './context.js';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

export function looksLikeJwt(secret: string): boolean {
  return secret.length < 16_384 && /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/.test(secret);
}

function jwksOf(i: WorkloadIssuer) {
  let set = jwksCache.get(i.jwksUrl);
  if (!set) {
    set = createRemoteJWKSet(new URL(i.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    jwksCache.set(i.jwksUrl, set);
  }
  return set;
}

/** The workload a verified token's claims name: the first whose every claim matches. */
export function workloadFor(ctx: AppContext, issuer: string, claims: JWTPayload): string | undefined {
  return ctx.config.workloads.identities.find(
    (w) => w.issuer === issuer && Object.entries(w.claims).every(([k, pattern]) => typeof claims[k] === 'string' && globMatch(pattern, claims[k] as string)),
  )?.name;
}

/** A verified CI token → the workload it proves, or undefined (logged why, never the token). */
export async function authenticateWorkload(ctx: AppContext, token: string): Promise<Actor | undefined> {
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
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, jwksOf(issuer), { issuer: issuer.issuer, audience: issuer.audience, algorithms: ALGORITHMS, currentDate: ctx.clock.now(), clockTolerance: 30 }));
  } catch (e) {
    ctx.log.info({ issuer: issuer.name, why: (e as { code?: string }).code ?? (e as Error).message }, 'workload token refused');
    return undefined;
  }
  const name = workloadFor(ctx, issuer.name, payload);
  // Disabled with `ajar user disable` like anyone else.
  const id = name ? await activeIdentity(ctx, ctx.db, name) : undefined;
  if (!id) {
    ctx.log.info({ issuer: issuer.name, sub: payload.sub }, 'workload token matches no configured workload');
    return undefined;
  }
  // The claims that named it, for the audit log and for CEL conditions.
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload)) if (typeof v === 'string' && k !== 'iss' && k !== 'aud' && k !== 'jti') attributes[k] = v;
  return { ...id, attributes, via: 'token' };
}

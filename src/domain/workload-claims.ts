// Rules for mapping CI OIDC tokens to workloads, checked when the config is
// loaded. One issuer (token.actions.githubusercontent.com, gitlab.com) signs the
// tokens of every repository on that service, and whoever asks for a token
// chooses its audience: a workload matched only by `ref: refs/heads/main` or
// `environment: production` would be any stranger's pipeline. So a GitHub or
// GitLab workload must name whose repository or project it is.

export type IssuerKind = 'github' | 'gitlab' | 'other';

/** The CI behind an issuer URL: GitHub.com and GitHub Enterprise Server (…/_services/token), gitlab.com. */
export function issuerKind(url: string, declared?: IssuerKind): IssuerKind {
  if (declared) return declared;
  const u = new URL(url);
  if (u.hostname === 'token.actions.githubusercontent.com' || u.pathname.replace(/\/+$/, '').endsWith('/_services/token')) return 'github';
  if (u.hostname === 'gitlab.com') return 'gitlab';
  return 'other';
}

/** Claims that name the owner of the pipeline: one of them must be matched, and start with literal text. */
export const OWNER_CLAIMS: Record<Exclude<IssuerKind, 'other'>, string[]> = {
  github: ['repository', 'repository_id', 'repository_owner', 'repository_owner_id'],
  gitlab: ['project_path', 'project_id', 'namespace_path', 'namespace_id'],
};

export function claimsProblem(kind: IssuerKind, claims: Record<string, string>): string | undefined {
  if (kind === 'other') return undefined;
  const owners = OWNER_CLAIMS[kind];
  const named = owners.filter((c) => claims[c] !== undefined);
  if (named.length === 0) {
    return `a ${kind === 'github' ? 'GitHub' : 'GitLab'} workload must match one of the claims ${owners.join(', ')}: the issuer signs every ${kind === 'github' ? 'repository' : 'project'}'s tokens, so other claims alone match strangers' pipelines`;
  }
  const open = named.find((c) => claims[c]!.startsWith('*'));
  if (open) return `claims.${open}: start with the literal owner (e.g. acme/payments or acme/*), not a wildcard`;
  return undefined;
}

/** Keys and tokens are fetched over https only; plain http is for loopback (tests, a local proxy). */
export function insecureUrlProblem(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return undefined;
  return 'use https (plain http only on loopback)';
}

/** A bearer secret shaped like a JWT (a CI's OIDC token), not an Ajar token. */
export function looksLikeJwt(secret: string): boolean {
  return secret.length < 16_384 && /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/.test(secret);
}

// Resources are named `kind:name[:scope]` (see docs/concepts.md).
// `:` never appears inside a name or scope: Git and Mercurial forbid it in ref and
// branch names, so it is a safe separator.

import { globCovers, globMatch, globOverlaps, hasWildcard } from './glob.js';
import { invalid, type Result, ok } from './result.js';

export const RESOURCE_KINDS = ['git', 'hg', 'env', 'ssh', 'postgres'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const ACTIONS: Record<ResourceKind, readonly string[]> = {
  git: ['read', 'push', 'force-push', 'delete', 'tag'],
  hg: ['read', 'push', 'publish', 'close-branch', 'delete', 'rewrite'],
  env: ['deploy', 'read-secrets'],
  ssh: ['login'],
  postgres: ['connect'],
};

/** Actions that apply to a whole repository, never to one branch. */
const REPOSITORY_LEVEL = new Set(['git:read', 'hg:read']);

export interface Resource {
  kind: ResourceKind;
  /** repository, application, host group or database target; may hold `/` */
  name: string;
  /** branch, ref, bookmark or environment; undefined = the whole resource */
  scope?: string | undefined;
}

const NAME_RE = /^[A-Za-z0-9_.*\-/]+$/;
const SCOPE_RE = /^[^\s:~^?[\\\x00-\x1f\x7f]+$/;

/** Parse a resource id or pattern, e.g. `git:payments:release/*`. */
export function parseResource(text: string): Result<Resource> {
  if (typeof text !== 'string' || text.length === 0) return invalid('resource is empty; expected kind:name[:scope], e.g. git:payments:main');
  if (text.length > 512) return invalid('resource is longer than 512 characters');
  const parts = text.split(':');
  const [kind, name, scope, ...rest] = parts;
  if (!RESOURCE_KINDS.includes(kind as ResourceKind)) {
    return invalid(`resource "${text}" has unknown kind "${kind}"; expected one of ${RESOURCE_KINDS.join(', ')}`);
  }
  if (rest.length > 0) return invalid(`resource "${text}" has too many ":"; expected kind:name[:scope]`);
  if (!name || !NAME_RE.test(name) || name.startsWith('/') || name.endsWith('/') || name.includes('//')) {
    return invalid(`resource "${text}" has an invalid name; names use letters, digits, ".", "_", "-" and "/"`);
  }
  if (scope !== undefined && (scope === '' || !SCOPE_RE.test(scope) || scope.includes('..') || scope.endsWith('/') || scope.startsWith('/'))) {
    return invalid(`resource "${text}" has an invalid scope "${scope}"`);
  }
  if (text.includes('***')) {
    return invalid(`resource "${text}": "***" means nothing; write * (any characters within one /-separated part) or ** (across parts)`);
  }
  if (kind === 'env' && scope === undefined) {
    return invalid(`resource "${text}" needs an environment, e.g. env:${name}:production`);
  }
  if ((kind === 'ssh' || kind === 'postgres') && scope !== undefined) {
    return invalid(`resource "${text}": ${kind} targets have no scope; use ${kind}:${name}`);
  }
  return ok({ kind: kind as ResourceKind, name, scope });
}

export function formatResource(r: Resource): string {
  return r.scope === undefined ? `${r.kind}:${r.name}` : `${r.kind}:${r.name}:${r.scope}`;
}

/**
 * The scope as it is matched. A Git branch is short for `refs/heads/<branch>`,
 * so `git:payments:main` and `git:payments:refs/heads/main` are the same thing.
 */
function matchScope(r: Resource): string | undefined {
  if (r.scope === undefined) return undefined;
  if (r.kind === 'git' && !r.scope.startsWith('refs/')) return `refs/heads/${r.scope}`;
  return r.scope;
}

/** Canonical text of a resource: Git refs spelled short when they are branches. */
export function canonicalResource(r: Resource): string {
  const s = matchScope(r);
  const short = s?.startsWith('refs/heads/') ? s.slice('refs/heads/'.length) : undefined;
  // A branch whose own name starts with `refs/` keeps the long form, or it would read back as another ref.
  if (r.kind === 'git' && short !== undefined && !short.startsWith('refs/')) return formatResource({ ...r, scope: short });
  return formatResource(r);
}

export function isPattern(r: Resource): boolean {
  return hasWildcard(r.name) || (r.scope !== undefined && hasWildcard(r.scope));
}

/** Does the pattern cover the concrete resource? A pattern with no scope covers every scope. */
export function resourceMatches(pattern: Resource, target: Resource): boolean {
  if (pattern.kind !== target.kind) return false;
  if (!globMatch(pattern.name, target.name)) return false;
  const ps = matchScope(pattern);
  if (ps === undefined) return true;
  const ts = matchScope(target);
  if (ts === undefined) return false;
  return globMatch(ps, ts);
}

/** Is everything `inner` names also named by `outer`? (conservative; see globCovers) */
export function resourceCovers(outer: Resource, inner: Resource): boolean {
  if (outer.kind !== inner.kind) return false;
  if (!globCovers(outer.name, inner.name)) return false;
  const os = matchScope(outer);
  if (os === undefined) return true;
  const is = matchScope(inner);
  if (is === undefined) return false;
  return globCovers(os, is);
}

/** Do the two patterns name at least one resource in common? */
export function resourceOverlaps(a: Resource, b: Resource): boolean {
  if (a.kind !== b.kind) return false;
  if (!globOverlaps(a.name, b.name)) return false;
  const as = matchScope(a);
  const bs = matchScope(b);
  if (as === undefined || bs === undefined) return true;
  return globOverlaps(as, bs);
}

export function validateAction(r: Resource, action: string): Result<string> {
  const allowed = ACTIONS[r.kind];
  if (!allowed.includes(action)) {
    return invalid(`action "${action}" does not apply to ${r.kind} resources; use one of ${allowed.join(', ')}`);
  }
  if (REPOSITORY_LEVEL.has(`${r.kind}:${action}`) && r.scope !== undefined) {
    return invalid(
      `"${action}" is granted per repository (${r.kind}:${r.name}), not per branch: inside one repository every branch's objects are reachable`,
    );
  }
  return ok(action);
}

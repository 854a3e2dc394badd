// Git facts Ajar decides on: which action a ref update needs, which ref and
// repository names are acceptable. Pure, shared by the gateway, the hooks and
// the server.
import type { Resource } from './resource.js';

/** What a pushed ref update does, as the pre-receive hook sees it. */
export const REF_UPDATE_KINDS = ['create', 'update', 'force', 'delete', 'tag-create', 'tag-move'] as const;
export type RefUpdateKind = (typeof REF_UPDATE_KINDS)[number];

/** DESIGN.md: `push` creates or fast-forwards; moving a tag is a force-push. */
export const KIND_ACTION: Record<RefUpdateKind, string> = {
  create: 'push',
  update: 'push',
  force: 'force-push',
  delete: 'delete',
  'tag-create': 'tag',
  'tag-move': 'force-push',
};

export const GIT_WRITE_ACTIONS = ['push', 'force-push', 'delete', 'tag'] as const;

export const ZERO_OID = /^0{40}(?:0{24})?$/;
export const OID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/**
 * The kind of one update. `fastForward` says whether `old` is an ancestor of
 * `new` (undefined when it could not be told: then it is treated as a force-push).
 */
export function classifyRefUpdate(oldOid: string, newOid: string, ref: string, fastForward: boolean | undefined): RefUpdateKind {
  const tag = ref.startsWith('refs/tags/');
  if (ZERO_OID.test(oldOid)) return tag ? 'tag-create' : 'create';
  if (ZERO_OID.test(newOid)) return 'delete';
  if (tag) return 'tag-move';
  return fastForward === true ? 'update' : 'force';
}

/**
 * Why a pushed ref name is refused outright, whatever the grants: only full names
 * under refs/, by git's own format rules, and never a branch named HEAD (it would
 * be confused with the symbolic HEAD).
 */
export function refProblem(ref: string): string | undefined {
  if (!ref.startsWith('refs/')) return 'only refs under refs/ can be pushed';
  if (ref.length > 255) return 'the ref name is longer than 255 characters';
  // git check-ref-format: no control characters, space, ~ ^ : ? * [ \, no "..", "@{",
  // no component starting with "." or ending in ".lock", no "//", no trailing "/" or ".".
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref) || ref.includes('..') || ref.includes('@{') || ref.includes('//')) return 'not a valid ref name';
  if (ref.endsWith('/') || ref.endsWith('.')) return 'not a valid ref name';
  if (ref.split('/').some((c) => c === '' || c.startsWith('.') || c.endsWith('.lock'))) return 'not a valid ref name';
  if (ref === 'refs/heads/HEAD') return 'a branch may not be called HEAD';
  return undefined;
}

/** The resource a ref is checked as: `git:payments:refs/heads/main` (= `git:payments:main`). */
export function refResource(repo: string, ref: string): Resource {
  return { kind: 'git', name: repo, scope: ref };
}

/**
 * Repository names as they appear in URLs and SSH commands: segments of letters,
 * digits, "_", "-" and "."; no segment starts with "." or "-" (no `..`, no hidden
 * directories, nothing git could read as an option).
 */
export function repoNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 200) return 'the repository name is empty or too long';
  const segments = name.split('/');
  if (segments.some((s) => !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s))) return 'not a valid repository name';
  if (segments.some((s) => s.endsWith('.git'))) return 'not a valid repository name';
  return undefined;
}

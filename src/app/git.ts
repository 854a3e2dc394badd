// Git on top of the shared repository access (repo-access.ts): a pushed ref
// update becomes a change that needs the action its kind calls for.
import { classifyRefUpdate, KIND_ACTION, OID, REF_UPDATE_KINDS, type RefUpdateKind, refProblem, refResource } from '../domain/git.js';
import type { AppContext } from './context.js';
import { type Change, decideChanges, type PushDecision, type Pusher } from './repo-access.js';

export type GitService = 'git-upload-pack' | 'git-receive-pack';

export interface RefUpdate {
  ref: string;
  old: string;
  new: string;
  kind: RefUpdateKind;
  /** where a symbolic ref points: the update lands there */
  target?: string | undefined;
}

const KIND_TEXT: Record<RefUpdateKind, string> = {
  create: 'create',
  update: 'fast-forward',
  force: 'non-fast-forward (force)',
  delete: 'delete',
  'tag-create': 'create tag',
  'tag-move': 'move tag',
};

/** Every updated ref must be covered by a grant for what its update does (a symbolic ref: its target too). */
export function decidePush(ctx: AppContext, pusher: Pusher, input: { repo: string; updates: RefUpdate[] }): Promise<PushDecision> {
  const problems = input.updates.map(updateProblem).filter((p): p is string => p !== undefined);
  if (input.updates.length > 10_000) problems.push('a push updates at most 10000 refs');
  const changes: Change[] = input.updates.map((u) => ({
    label: u.ref,
    what: KIND_TEXT[u.kind] ?? u.kind,
    action: KIND_ACTION[u.kind] ?? 'force-push',
    resources: (u.target && u.target !== u.ref ? [u.ref, u.target] : [u.ref]).map((name) => refResource(input.repo, name)),
    record: { ref: u.ref, target: u.target ?? null, old: u.old, new: u.new, kind: u.kind },
  }));
  return decideChanges(ctx, pusher, { kind: 'git', repo: input.repo, changes, problems, recordKey: 'refs', consumeSession: true });
}

function updateProblem(u: RefUpdate): string | undefined {
  const bad = refProblem(u.ref) ?? (u.target !== undefined ? refProblem(u.target) : undefined);
  if (bad) return `${JSON.stringify(u.ref).slice(0, 120)}: ${bad}`;
  if (!OID.test(u.old) || !OID.test(u.new)) return `${u.ref}: not an object id`;
  if (!(REF_UPDATE_KINDS as readonly string[]).includes(u.kind)) return `${u.ref}: unknown update kind`;
  // The hook classifies; the server checks the classification is possible at all.
  const plain = classifyRefUpdate(u.old, u.new, u.ref, true);
  if (plain !== u.kind && !(plain === 'update' && u.kind === 'force')) return `${u.ref}: update kind ${u.kind} does not fit ${u.old}..${u.new}`;
  return undefined;
}

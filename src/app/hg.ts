// Mercurial on top of the shared repository access (repo-access.ts): what the
// server hook saw in a transaction becomes changes that need their actions —
// new changesets on a branch (push), closing a branch (close-branch), bookmarks
// (push, delete), publishing drafts (publish), obsolescence markers (rewrite).
import { branchResource, bookmarkResource, hgNameProblem } from '../domain/hg.js';
import type { Resource } from '../domain/resource.js';
import type { AppContext } from './context.js';
import { type Change, decideChanges, type PushDecision, type Pusher } from './repo-access.js';

export type HgChange =
  | { type: 'changesets' | 'close' | 'publish'; branch: string; nodes: string[]; count: number }
  | { type: 'bookmark'; bookmark: string; op: 'create' | 'move' | 'delete'; old: string | null; new: string | null }
  | { type: 'obsolete'; node: string; branch?: string | undefined; public?: boolean | undefined };

/** `check`: asked by the prepushkey hook before a pushkey command changes anything (see decideChanges). */
export function decideHgPush(ctx: AppContext, pusher: Pusher, input: { repo: string; changes: HgChange[]; check?: boolean }): Promise<PushDecision> {
  const problems: string[] = [];
  const changes: Change[] = [];
  const { repo } = input;
  for (const c of input.changes) {
    if (c.type === 'bookmark') {
      const bad = hgNameProblem(c.bookmark, 'bookmark');
      if (bad) problems.push(bad);
      changes.push({
        label: `bookmark ${c.bookmark}`,
        what: `${c.op} the bookmark`,
        action: c.op === 'delete' ? 'delete' : 'push',
        resources: [bookmarkResource(repo, c.bookmark)],
        record: { type: 'bookmark', bookmark: c.bookmark, op: c.op, old: c.old, new: c.new },
      });
    } else if (c.type === 'obsolete') {
      // A public changeset is history others have: nobody rewrites it through Ajar.
      if (c.public) problems.push(`obsolescence marker for public changeset ${c.node.slice(0, 12)}: public history cannot be rewritten`);
      let resource: Resource = { kind: 'hg', name: repo };
      if (c.branch !== undefined) {
        const bad = hgNameProblem(c.branch, 'branch');
        if (bad) problems.push(bad);
        resource = branchResource(repo, c.branch);
      }
      changes.push({
        label: `changeset ${c.node.slice(0, 12)}`,
        what: c.branch === undefined ? 'obsolete a changeset this repository does not have' : `obsolete a changeset on ${c.branch}`,
        action: 'rewrite',
        resources: [resource],
        record: { type: 'obsolete', node: c.node, branch: c.branch ?? null },
      });
    } else {
      const bad = hgNameProblem(c.branch, 'branch');
      if (bad) problems.push(bad);
      const what = {
        changesets: `${c.count} new changeset(s)`,
        close: 'close the branch',
        publish: `publish ${c.count} draft changeset(s)`,
      }[c.type];
      const action = { changesets: 'push', close: 'close-branch', publish: 'publish' }[c.type];
      changes.push({
        label: `branch ${c.branch}`,
        what,
        action,
        resources: [branchResource(repo, c.branch)],
        record: { type: c.type, branch: c.branch, count: c.count, nodes: c.nodes },
      });
    }
  }
  // The hook decides before the transaction commits: uses are counted once it has (push-uses.ts).
  return decideChanges(ctx, pusher, { kind: 'hg', repo, changes, problems, recordKey: 'changes', check: input.check ?? false, deferUses: true });
}

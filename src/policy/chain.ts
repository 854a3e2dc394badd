// Can an approval chain ever be satisfied? Every stage needs `count` people;
// nobody approves twice (one review per person and request), nobody approves
// their own request, and a `distinct` stage needs approvers who differ (in an
// attribute, or — `distinct: group` — in the group or user entry of the stage
// they approve for). Whether enough people exist is a matching problem: people
// are assigned to stage slots, each person once, each distinct value once per
// stage. Solved as a small maximum flow; pure.
import type { Identity } from '../config.js';
import type { ApprovalStage, OnCall } from './policy.js';

/** What the matching needs of a stage (a stage of a rule or of a filed plan). */
export type StageShape = Pick<ApprovalStage, 'groups' | 'users' | 'count' | 'distinct' | 'oncall' | 'escalate'>;

/** `distinct: group`: each approval counts for a different group (or named user) of the stage. */
export const DISTINCT_GROUP = 'group';

/**
 * The values one approver may count for in a stage: with no `distinct`, one
 * shared value; with `distinct: <attribute>`, their value of it (none if they
 * lack it); with `distinct: group`, each entry of the stage that names them.
 * Empty: they cannot approve this stage.
 */
export function valuesFor(stage: StageShape, who: Identity, opts: { onCall?: OnCall | undefined; escalated?: boolean | number } = {}): string[] {
  const entries: string[] = [];
  // escalated: how many tiers have been reached (true: all of them)
  const tiers = (stage.escalate ?? []).slice(0, opts.escalated === true ? Infinity : Number(opts.escalated ?? 0));
  for (const g of new Set([...stage.groups, ...tiers.flatMap((t) => t.groups)])) if (who.groups.includes(g)) entries.push(`group:${g}`);
  for (const u of new Set([...stage.users, ...tiers.flatMap((t) => t.users)])) if (u === who.name) entries.push(`user:${u}`);
  for (const r of stage.oncall ?? []) if (opts.onCall?.(r).includes(who.name)) entries.push(`oncall:${r}`);
  if (entries.length === 0) return [];
  if (!stage.distinct) return ['*'];
  if (stage.distinct === DISTINCT_GROUP) return entries;
  const v = who.attributes[stage.distinct];
  return v === undefined ? [] : [`attr:${v}`];
}

export interface StageNeed {
  count: number;
  /** each value may be used once (distinct), or by up to `count` people (no distinct) */
  distinct: boolean;
  /** who may approve, and the values they may count for */
  people: Map<string, string[]>;
}

/** How many of the needed approvals can be filled at once by distinct people. */
export function maxApprovals(needs: StageNeed[]): number {
  // Nodes: source, one per stage, one per (stage, value), one per person, sink.
  const index = new Map<string, number>();
  const node = (key: string) => {
    let n = index.get(key);
    if (n === undefined) {
      n = index.size;
      index.set(key, n);
    }
    return n;
  };
  const cap: Map<number, number>[] = [];
  const edge = (a: number, b: number, c: number) => {
    (cap[a] ??= new Map()).set(b, (cap[a]!.get(b) ?? 0) + c);
    (cap[b] ??= new Map()).set(a, cap[b]!.get(a) ?? 0);
  };
  const source = node('source');
  const sink = node('sink');
  needs.forEach((need, s) => {
    const stage = node(`stage:${s}`);
    edge(source, stage, need.count);
    for (const [person, values] of need.people) {
      for (const v of values) {
        const sv = `sv:${s}:${v}`;
        const fresh = !index.has(sv);
        const n = node(sv);
        if (fresh) edge(stage, n, need.distinct ? 1 : need.count);
        edge(n, node(`person:${person}`), 1);
      }
    }
  });
  for (const [key, n] of index) if (key.startsWith('person:')) edge(n, sink, 1);
  // Augmenting paths by depth-first search: the flow is at most the total count (≤ a few hundred).
  let flow = 0;
  for (;;) {
    const seen = new Set<number>([source]);
    const path = (at: number): boolean => {
      if (at === sink) return true;
      for (const [to, c] of cap[at] ?? []) {
        if (c <= 0 || seen.has(to)) continue;
        seen.add(to);
        if (path(to)) {
          cap[at]!.set(to, c - 1);
          cap[to]!.set(at, (cap[to]!.get(at) ?? 0) + 1);
          return true;
        }
      }
      return false;
    };
    if (!path(source)) return flow;
    flow++;
  }
}

/**
 * Why the chain can never be satisfied for this requester, or undefined when it
 * can. Stages approved by whoever is on call count with the people on call then
 * (`onCall`), or are left out; escalation tiers count (they may decide in the end).
 */
export function chainProblem(stages: StageShape[], candidates: Identity[], requester?: string, onCall?: OnCall): string | undefined {
  // Without a time to read the schedule at, on-call stages are left out (they change with it).
  const fixed = onCall ? stages : stages.filter((s) => !(s.oncall ?? []).length);
  const needs: StageNeed[] = fixed.map((s) => ({
    count: s.count,
    distinct: !!s.distinct,
    people: new Map(candidates.filter((c) => c.name !== requester).map((c) => [c.name, valuesFor(s, c, { escalated: true, onCall })] as const).filter(([, v]) => v.length > 0)),
  }));
  const needed = needs.reduce((n, x) => n + x.count, 0);
  const can = maxApprovals(needs);
  if (can >= needed) return undefined;
  const who = [...new Set(needs.flatMap((n) => [...n.people.keys()]))].sort();
  const distinct = fixed.some((s) => s.distinct) ? ', each stage\'s approvers distinct as it asks' : '';
  return `it needs ${needed} approvals from different people${distinct}, and at most ${can} can be given (${who.join(', ') || 'nobody'} can approve${requester ? `; ${requester}, who asks, cannot approve their own request` : ''}); nobody approves twice`;
}

/** May these approvers, and this one more, all count for the stage at once (distinct values)? */
export function fitsStage(stage: StageShape, approvers: { who: Identity; escalated: boolean | number }[], onCall?: OnCall): boolean {
  const people = new Map(approvers.map((a) => [a.who.name, valuesFor(stage, a.who, { onCall, escalated: a.escalated })] as const));
  return maxApprovals([{ count: approvers.length, distinct: !!stage.distinct, people }]) === approvers.length;
}

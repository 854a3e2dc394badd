// Loading a rule's approval chain from the policy document: stages, their
// conditions, escalation tiers and reminders, each checked with a precise
// problem at its file:line:col; and whether the chain can ever be satisfied,
// for every identity that may ask under the rule.
import type { Identity } from '../config.js';
import { parseDuration } from '../domain/duration.js';
import { chainProblem, DISTINCT_GROUP, maxApprovals, valuesFor } from './chain.js';
import { compileCondition } from './conditions.js';
import type { Approvers, Escalation, PolicyRule } from './policy.js';

/** A stage as the policy document holds it (after schema validation). */
export interface RawStage {
  groups: string[];
  users: string[];
  count: number;
  distinct?: string | undefined;
  oncall: string[];
  when?: string | undefined;
  escalate?: RawEscalation | RawEscalation[] | undefined;
  remind_every?: string | undefined;
}

interface RawEscalation {
  after: string;
  groups: string[];
  users: string[];
}

export interface LoadContext {
  /** file:line:col of a path under the approval (e.g. 'stages', 0, 'count') */
  where(...path: (string | number)[]): string;
  problem(text: string): void;
  groups: Map<string, unknown>;
  identities: Map<string, Identity>;
  checkRotation(where: string, rotation: string): void;
  /** CEL conditions see on-call rotations; these are the known ones (undefined: not checked) */
  rotations: Set<string> | undefined;
  /** how long a request under the rule waits before it expires */
  ttl: { text: string; seconds: number | undefined };
}

export function loadApproval(raw: 'auto' | RawStage | { stages: RawStage[] } | undefined, c: LoadContext): PolicyRule['approval'] {
  if (raw === undefined || raw === 'auto') return 'auto';
  const staged = 'stages' in raw;
  const list = staged ? raw.stages : [raw];
  const stages = list.map((ap, n) => loadStage(ap, { ...c, where: (...p) => c.where(...(staged ? ['stages', n] : []), ...p) }));
  return { stages };
}

function loadStage(ap: RawStage, c: LoadContext): Approvers {
  const { where, problem } = c;
  if (ap.groups.length === 0 && ap.users.length === 0 && ap.oncall.length === 0) problem(`${where()}: name approver groups, users or on-call rotations, or write approval: auto`);
  ap.oncall.forEach((rot, j) => c.checkRotation(where('oncall', j), rot));
  const knownGroups = (list: string[], ...at: (string | number)[]) =>
    list.forEach((g, j) => {
      if (!c.groups.has(g)) problem(`${where(...at, j)}: unknown group "${g}"`);
    });
  const knownUsers = (list: string[], ...at: (string | number)[]) =>
    list.forEach((u, j) => {
      if (!c.identities.has(u)) problem(`${where(...at, j)}: unknown user "${u}"`);
    });
  knownGroups(ap.groups, 'groups');
  knownUsers(ap.users, 'users');
  if (ap.distinct === DISTINCT_GROUP && ap.count > ap.groups.length + ap.users.length + ap.oncall.length) {
    problem(`${where('count')}: distinct: group needs each approval from a different group or user of the stage, and it names only ${ap.groups.length + ap.users.length + ap.oncall.length} for ${ap.count} approvals`);
  }
  if (ap.oncall.length === 0 && (ap.escalate === undefined || (Array.isArray(ap.escalate) && ap.escalate.length === 0))) {
    // One stage alone: the plainest message, at its count.
    const stage = { groups: ap.groups, users: ap.users, count: ap.count, distinct: ap.distinct ?? null };
    const people = [...c.identities.values()].filter((i) => !i.disabled && valuesFor(stage, i).length > 0);
    const can = maxApprovals([{ count: ap.count, distinct: !!ap.distinct, people: new Map(people.map((i) => [i.name, valuesFor(stage, i)])) }]);
    if (can < ap.count) {
      problem(`${where('count')}: needs ${ap.count} approvers${ap.distinct ? ` with distinct ${ap.distinct}` : ''} but only ${can} can approve (${people.map((x) => x.name).join(', ') || 'none'}); this chain can never be satisfied`);
    }
  }
  let when: Approvers['when'] = null;
  if (ap.when) {
    const test = compileCondition(ap.when, { rotations: c.rotations });
    if (typeof test === 'string') problem(`${where('when')}: the condition does not type-check: ${test}`);
    else when = { expr: ap.when, test };
  }
  const escalate = loadEscalation(ap.escalate, c);
  let remindEverySeconds: number | undefined;
  if (ap.remind_every) {
    const every = parseDuration(ap.remind_every);
    remindEverySeconds = every.ok ? every.value : 0;
    if (remindEverySeconds < 300) problem(`${where('remind_every')}: remind at most every 5m (write 5m or more)`);
    else if (c.ttl.seconds !== undefined && remindEverySeconds >= c.ttl.seconds) {
      problem(`${where('remind_every')}: a request expires after ${c.ttl.text} (pending_ttl), before the first reminder; remind more often or raise pending_ttl`);
    }
  }
  return {
    groups: ap.groups,
    users: ap.users,
    count: ap.count,
    distinct: ap.distinct ?? null,
    ...(ap.oncall.length ? { oncall: ap.oncall } : {}),
    ...(escalate.length ? { escalate } : {}),
    ...(remindEverySeconds ? { remindEverySeconds } : {}),
    when,
  };
}

/** Escalation tiers, in order: each later than the one before, all before the request expires. */
function loadEscalation(raw: RawStage['escalate'], c: LoadContext): Escalation[] {
  if (!raw) return [];
  const listed = Array.isArray(raw);
  const tiers = listed ? raw : [raw];
  let before = 0;
  return tiers.map((e, k) => {
    const at = (...p: (string | number)[]) => c.where('escalate', ...(listed ? [k] : []), ...p);
    if (e.groups.length === 0 && e.users.length === 0) c.problem(`${at()}: name the groups or users to escalate to`);
    e.groups.forEach((g, j) => {
      if (!c.groups.has(g)) c.problem(`${at('groups', j)}: unknown group "${g}"`);
    });
    e.users.forEach((u, j) => {
      if (!c.identities.has(u)) c.problem(`${at('users', j)}: unknown user "${u}"`);
    });
    const after = parseDuration(e.after);
    const seconds = after.ok ? after.value : 0;
    if (after.ok && c.ttl.seconds !== undefined && seconds >= c.ttl.seconds) {
      c.problem(`${at('after')}: a request expires after ${c.ttl.text} (pending_ttl), before it would escalate; escalate sooner or raise pending_ttl`);
    } else if (after.ok && seconds <= before) {
      c.problem(`${at('after')}: each escalation tier comes later than the one before it`);
    }
    before = Math.max(before, seconds);
    return { afterSeconds: seconds, groups: e.groups, users: e.users };
  });
}

/**
 * Can the chain be satisfied at all, and by someone other than each identity who
 * may ask under the rule? Reported at the approval, naming one requester it fails for.
 */
export function chainProblems(rule: PolicyRule, who: { users: string[]; groups: string[]; service_accounts: string[]; workloads: string[]; oncall: string[] }, c: LoadContext, onCallPeople: (rotations: string[]) => string[]): void {
  if (rule.approval === 'auto') return;
  const stages = rule.approval.stages;
  const candidates = [...c.identities.values()].filter((i) => !i.disabled);
  const all = chainProblem(stages, candidates);
  if (all) return c.problem(`${c.where()}: this approval chain can never be satisfied: ${all}`);
  const askers = new Set<string>([...who.users, ...who.service_accounts, ...who.workloads, ...onCallPeople(who.oncall)]);
  for (const i of candidates) if (i.groups.some((g) => who.groups.includes(g))) askers.add(i.name);
  const failing = [...askers].sort().filter((name) => chainProblem(stages, candidates, name) !== undefined);
  if (failing.length === 0) return;
  const first = failing[0]!;
  const more = failing.length > 1 ? ` (and ${failing.length - 1} more who may ask: ${failing.slice(1, 6).join(', ')}${failing.length > 6 ? ', …' : ''})` : '';
  c.problem(`${c.where()}: this approval chain can never be satisfied when ${first} asks${more}: ${chainProblem(stages, candidates, first)}; add approvers or leave them out of who`);
}

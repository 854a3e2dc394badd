// The basic policy: who may request which actions on which resources, for how
// long, and who approves. Pure: no I/O, no clock reads; the lifecycle calls it.
import type { Identity } from '../config.js';
import { formatDuration } from '../domain/duration.js';
import { DISTINCT_GROUP, fitsStage } from './chain.js';
import type { AutomaticRule, ConditionVars } from './conditions.js';
import type { Schedule } from './oncall.js';
import { canonicalResource, type Resource, resourceCovers, resourceOverlaps } from '../domain/resource.js';

/** One stage of an approval chain: `count` people from these groups or users. */
export interface Approvers {
  groups: string[];
  users: string[];
  count: number;
  /** approvers of the stage must differ in this attribute (e.g. team); null = any */
  distinct: string | null;
  /** whoever is on call in these rotations when they approve */
  oncall?: string[];
  /** the stage applies only when this CEL condition holds at request time */
  when?: { expr: string; test: (vars: ConditionVars) => boolean } | null;
  /** tiers in order: no decision within afterSeconds of the stage starting, these approvers may decide too */
  escalate?: Escalation[];
  /** while the stage is undecided, its approvers are reminded this often */
  remindEverySeconds?: number;
}

export interface Escalation {
  afterSeconds: number;
  groups: string[];
  users: string[];
}

export interface PolicyRule {
  name: string;
  description?: string | undefined;
  who: { users: string[]; groups: string[]; service_accounts: string[]; workloads?: string[] | undefined; oncall?: string[] | undefined };
  /** block rules refuse whatever they cover, whatever allows it */
  effect: 'allow' | 'block';
  resources: Resource[];
  actions: string[];
  maxDurationSeconds: number;
  defaultDurationSeconds: number;
  minDurationSeconds: number;
  maxUses: number | null;
  /** how long a request under this rule waits for a decision; null = the policy's */
  pendingTtlSeconds: number | null;
  ticket: { required: boolean; pattern: string | null } | null;
  /** stages are approved in order */
  approval: 'auto' | { stages: Approvers[] };
  /** an emergency rule: used only when asked for, grants at once, flagged and reviewed afterwards */
  breakGlass: boolean;
  /** typed justification fields the requester fills in */
  prompts: Prompt[];
  /** how often a grant may be extended, and how long it may last in all; null = no limit */
  extensions: { max: number | null; maxTotalSeconds: number | null };
  /** a Git or Mercurial operation this rule could allow, when denied, files the request itself */
  requestOnDeny?: boolean | undefined;
  /** requests under this rule must be bound to one build (an artifact) */
  requireArtifact?: boolean | undefined;
}

export interface Prompt {
  name: string;
  description: string | null;
  pattern: string | null;
  required: boolean;
}

export interface Policy {
  pendingTtlSeconds: number;
  /** IANA time zone for `time.*` in conditions, e.g. Europe/Berlin */
  timezone: string;
  rules: PolicyRule[];
  /** CEL-conditioned automatic approvals and denials, checked after eligibility */
  automatic: AutomaticRule[];
  /** on-call rotations, from policy.oncall_file */
  oncall: Schedule;
  /** the schedule's path, watched for changes */
  oncallFile?: string | undefined;
}

/** One approval requirement of a request: `count` people from this set, in order. */
export interface ApprovalStage {
  rule: string;
  groups: string[];
  users: string[];
  count: number;
  distinct?: string | null;
  oncall?: string[];
  /** tiers in order of their afterSeconds */
  escalate?: Escalation[];
  remindEverySeconds?: number;
  /** which stage of its rule this is */
  ruleStage?: number;
  /** the stage has a `when` condition, decided when the request is filed */
  conditional?: boolean;
}

export interface Plan {
  /** the rules that made the request eligible, in policy order */
  rules: string[];
  maxDurationSeconds: number;
  defaultDurationSeconds: number;
  minDurationSeconds: number;
  maxUses: number | null;
  pendingTtlSeconds: number;
  /** a ticket is required if any rule requires one; it must match every pattern */
  ticket: { required: boolean; patterns: string[] };
  auto: boolean;
  stages: ApprovalStage[];
  /** the justification fields asked by the rules used */
  prompts?: Prompt[];
  /** the strictest extension limits of the rules used */
  extensions?: { max: number | null; maxTotalSeconds: number | null };
  /** granted by a break-glass rule: at once, flagged, reviewed afterwards */
  breakGlass?: boolean;
  /** set when a CEL automatic rule decided the request */
  automatic?: { decision: 'approve' | 'deny'; rule: string; reason: string | null } | null;
  /** the rules that require the request to name its build (artifact) */
  requireArtifact?: string[];
}

/** A plan as stored with a request: plans filed before escalation tiers held one tier as an object. */
export function storedPlan(p: Plan): Plan {
  const legacy = p.stages.some((s) => s.escalate !== undefined && !Array.isArray(s.escalate));
  if (!legacy) return p;
  return { ...p, stages: p.stages.map((s) => (s.escalate === undefined || Array.isArray(s.escalate) ? s : { ...s, escalate: [s.escalate as unknown as Escalation] })) };
}

export type Evaluation = { eligible: true; plan: Plan } | { eligible: false; reason: string };

/**
 * Does the rule name this subject? `who.oncall` names whoever is on call in a
 * rotation when they ask; without a schedule to read (no `onCall`) nobody is.
 */
export function subjectMatches(rule: PolicyRule, who: Identity, onCall?: OnCall): boolean {
  if (rule.who.groups.some((g) => who.groups.includes(g))) return true;
  if (who.kind === 'service_account') return rule.who.service_accounts.includes(who.name);
  if (who.kind === 'workload') return (rule.who.workloads ?? []).includes(who.name);
  return rule.who.users.includes(who.name) || (!!onCall && (rule.who.oncall ?? []).some((r) => onCall(r).includes(who.name)));
}

/** The block rule that refuses `who` this action on anything the resource (or pattern) names, if any. */
export function blockingRule(policy: Policy, who: Identity, action: string, resource: Resource, onCall?: OnCall): PolicyRule | undefined {
  return policy.rules.find((r) => r.effect === 'block' && r.actions.includes(action) && subjectMatches(r, who, onCall) && r.resources.some((p) => resourceOverlaps(p, resource)));
}

/**
 * May `who` request every (resource, action) pair? Each pair must be covered by
 * a rule; the plan is the strictest of the rules used: the shortest maximum,
 * auto-approval only if every rule auto-approves, and every rule's approvers.
 */
export function evaluateRequest(policy: Policy, who: Identity, resources: Resource[], actions: string[], opts: { breakGlass?: boolean; onCall?: OnCall | undefined } = {}): Evaluation {
  const breakGlass = opts.breakGlass === true;
  const named = (r: PolicyRule) => subjectMatches(r, who, opts.onCall);
  const used = new Map<string, PolicyRule>();
  for (const resource of resources) {
    for (const action of actions) {
      // Block rules win: one that could touch the requested resource refuses it.
      const block = blockingRule(policy, who, action, resource, opts.onCall);
      if (block) return { eligible: false, reason: `rule ${block.name} blocks ${who.name} from ${action} on ${canonicalResource(resource)}` };
      const rule = policy.rules.find(
        (r) =>
          r.effect === 'allow' && r.breakGlass === breakGlass && r.actions.includes(action) && named(r) && r.resources.some((p) => resourceCovers(p, resource)),
      );
      if (!rule) {
        return { eligible: false, reason: `no ${breakGlass ? 'break-glass ' : ''}policy rule lets ${who.name} request ${action} on ${canonicalResource(resource)}` };
      }
      used.set(rule.name, rule);
    }
  }
  // Policy order, not the order the request names things in: stages then follow the policy.
  const rules = policy.rules.filter((r) => used.has(r.name));
  const uses = rules.map((r) => r.maxUses).filter((n): n is number => n !== null);
  const stages: ApprovalStage[] = [];
  for (const r of rules) {
    if (r.approval !== 'auto') {
      r.approval.stages.forEach(({ when, ...st }, i) => stages.push({ rule: r.name, ...st, ruleStage: i, ...(when ? { conditional: true } : {}) }));
    }
  }
  const max = Math.min(...rules.map((r) => r.maxDurationSeconds));
  const min = Math.max(0, ...rules.map((r) => r.minDurationSeconds));
  if (min > max) return { eligible: false, reason: `the rules ${rules.map((r) => r.name).join(', ')} allow no common duration; request the resources separately` };
  const ttls = rules.map((r) => r.pendingTtlSeconds ?? policy.pendingTtlSeconds);
  return {
    eligible: true,
    plan: {
      rules: rules.map((r) => r.name),
      maxDurationSeconds: max,
      defaultDurationSeconds: Math.max(min, Math.min(max, ...rules.map((r) => r.defaultDurationSeconds))),
      minDurationSeconds: min,
      maxUses: uses.length > 0 ? Math.min(...uses) : null,
      pendingTtlSeconds: Math.min(...ttls),
      ticket: {
        required: rules.some((r) => r.ticket?.required),
        patterns: [...new Set(rules.map((r) => r.ticket?.pattern).filter((p): p is string => !!p))],
      },
      auto: stages.length === 0,
      stages,
      prompts: rules.flatMap((r) => r.prompts ?? []),
      extensions: {
        max: minOrNull(rules.map((r) => r.extensions?.max ?? null)),
        maxTotalSeconds: minOrNull(rules.map((r) => r.extensions?.maxTotalSeconds ?? null)),
      },
      ...(breakGlass ? { breakGlass: true } : {}),
      ...(rules.some((r) => r.requireArtifact) ? { requireArtifact: rules.filter((r) => r.requireArtifact).map((r) => r.name) } : {}),
    },
  };
}

function minOrNull(values: (number | null)[]): number | null {
  const set = values.filter((v): v is number => v !== null);
  return set.length ? Math.min(...set) : null;
}

/** Do the filled-in fields satisfy the prompts? undefined when they do, else what is wrong. */
export function fieldsProblem(plan: Plan, fields: Record<string, string>): string | undefined {
  const prompts = plan.prompts ?? [];
  for (const name of Object.keys(fields)) {
    if (!prompts.some((p) => p.name === name)) return `"${name}" is not asked for${prompts.length ? `; the policy asks for ${[...new Set(prompts.map((p) => p.name))].join(', ')}` : ''}`;
  }
  for (const p of prompts) {
    const v = fields[p.name];
    if (v === undefined || v.trim() === '') {
      if (p.required) return `${p.name} is required${p.description ? ` (${p.description})` : ''}: add --field ${p.name}=...`;
      continue;
    }
    if (p.pattern && !new RegExp(p.pattern, 'u').test(v)) return `${p.name} "${v}" does not match ${p.pattern}`;
  }
  return undefined;
}

/** Does the ticket satisfy the plan? undefined when it does, else what is wrong. */
export function ticketProblem(plan: Plan, ticket: string | undefined | null): string | undefined {
  if (!ticket) return plan.ticket.required ? `a ticket is required (rule ${plan.rules.join(', ')})` : undefined;
  const bad = plan.ticket.patterns.find((p) => !new RegExp(p, 'u').test(ticket));
  return bad ? `"${ticket}" does not match the required ticket pattern ${bad}` : undefined;
}

/** Who is on call in a rotation right now (the caller reads the schedule at the clock). */
export type OnCall = (rotation: string) => string[];

/**
 * May this person approve the stage? `escalated` is how many of its escalation
 * tiers have been reached (true: all of them, e.g. to let every tier see the request).
 */
export function canApproveStage(stage: ApprovalStage, approver: Identity, onCall?: OnCall, escalated: boolean | number = false): boolean {
  if (stage.users.includes(approver.name) || stage.groups.some((g) => approver.groups.includes(g))) return true;
  const reached = escalated === true ? Infinity : escalated === false ? 0 : escalated;
  if ((stage.escalate ?? []).slice(0, reached).some((t) => t.users.includes(approver.name) || t.groups.some((g) => approver.groups.includes(g)))) return true;
  return !!onCall && (stage.oncall ?? []).some((r) => onCall(r).includes(approver.name));
}

export interface Review {
  who: Identity;
  /** the stage the approval counted for */
  stage: number;
  at?: Date;
}

/** When stage i began: at filing for the first, at the approval completing the one before otherwise. */
export function stageStartedAt(stages: ApprovalStage[], reviews: Review[], i: number, filedAt: Date): Date {
  if (i <= 0) return filedAt;
  const prev = reviews.filter((r) => r.stage === i - 1 && r.at).map((r) => r.at!.getTime());
  return prev.length ? new Date(Math.max(...prev)) : filedAt;
}

/** When each escalation tier of stage i is reached. Computed from stored times, so it survives restarts. */
export function escalationTimes(stages: ApprovalStage[], reviews: Review[], i: number, filedAt: Date): { tier: number; at: Date; escalation: Escalation }[] {
  const tiers = stages[i]?.escalate ?? [];
  if (tiers.length === 0) return [];
  const started = stageStartedAt(stages, reviews, i, filedAt).getTime();
  return tiers.map((escalation, tier) => ({ tier, at: new Date(started + escalation.afterSeconds * 1000), escalation }));
}

/** How many escalation tiers of stage i have been reached by `now` (0: none). */
export function isEscalated(stages: ApprovalStage[], reviews: Review[], i: number, filedAt: Date, now: Date): number {
  return escalationTimes(stages, reviews, i, filedAt).filter((t) => t.at.getTime() <= now.getTime()).length;
}

/**
 * The current stage's next escalation tier after `after` (default: its first
 * tier), or null when there is none left (or all stages are met).
 */
export function nextEscalation(stages: ApprovalStage[], reviews: Review[], filedAt: Date, after?: Date): { stage: number; tier: number; at: Date } | null {
  const stage = currentStage(stages, reviews);
  if (stage < 0) return null;
  const next = escalationTimes(stages, reviews, stage, filedAt).find((t) => after === undefined || t.at.getTime() > after.getTime());
  return next ? { stage, tier: next.tier, at: next.at } : null;
}

/**
 * The current stage's next reminder after `now`: every remindEverySeconds from the
 * stage's start. After a downtime this is the next one to come, so missed
 * reminders are not sent in a burst. Null when the stage has no reminders.
 */
export function nextReminder(stages: ApprovalStage[], reviews: Review[], filedAt: Date, now: Date): { stage: number; at: Date } | null {
  const stage = currentStage(stages, reviews);
  const every = stage < 0 ? undefined : stages[stage]!.remindEverySeconds;
  if (!every) return null;
  const started = stageStartedAt(stages, reviews, stage, filedAt).getTime();
  const k = Math.max(0, Math.floor((now.getTime() - started) / (every * 1000))) + 1;
  return { stage, at: new Date(started + k * every * 1000) };
}

/** Approvals counted per stage. */
export function approvalProgress(stages: ApprovalStage[], reviews: Review[]): { stage: ApprovalStage; have: number; approvers: string[] }[] {
  return stages.map((stage, i) => {
    const mine = reviews.filter((r) => r.stage === i);
    return { stage, have: mine.length, approvers: mine.map((r) => r.who.name) };
  });
}

/** The first stage still short of approvals, or -1 when all are met. */
export function currentStage(stages: ApprovalStage[], reviews: Review[]): number {
  return approvalProgress(stages, reviews).findIndex((p) => p.have < p.stage.count);
}

export function isFullyApproved(stages: ApprovalStage[], reviews: Review[]): boolean {
  return currentStage(stages, reviews) === -1;
}

/**
 * May this person's approval count now? Stages are approved in order, and a
 * stage with `distinct` needs approvers who differ in that attribute.
 * Returns the stage it counts for, or why not.
 */
export function stageFor(
  stages: ApprovalStage[],
  reviews: Review[],
  approver: Identity,
  onCall?: OnCall,
  timing?: { filedAt: Date; now: Date },
): { stage: number } | { problem: string } {
  const cur = currentStage(stages, reviews);
  if (cur === -1) return { problem: 'every approval stage is already met' };
  const stage = stages[cur]!;
  const escalated = !!timing && isEscalated(stages, reviews, cur, timing.filedAt, timing.now);
  if (!canApproveStage(stage, approver, onCall, escalated)) {
    const later = stages.findIndex((s, i) => i > cur && canApproveStage(s, approver, onCall));
    return {
      problem:
        later >= 0
          ? `stage ${cur + 1} (${describeStage(stage)}) must approve first; you approve at stage ${later + 1}`
          : `you are not an approver of this request (${stages.map(describeStage).join('; then ')})`,
    };
  }
  if (stage.distinct === DISTINCT_GROUP) {
    const mine = reviews.filter((r) => r.stage === cur);
    if (!fitsStage(stage, [...mine, { who: approver }].map((r) => ({ who: r.who, escalated })), onCall)) {
      return { problem: `stage ${cur + 1} needs each approval from a different one of ${describeStage(stage)}: ${mine.map((r) => r.who.name).join(', ')} already approved for what you could count for` };
    }
  } else if (stage.distinct) {
    const value = approver.attributes[stage.distinct];
    if (value === undefined) return { problem: `stage ${cur + 1} needs approvers with distinct ${stage.distinct}, and you have no ${stage.distinct}` };
    const same = reviews.find((r) => r.stage === cur && r.who.attributes[stage.distinct!] === value);
    if (same) return { problem: `stage ${cur + 1} needs approvers with distinct ${stage.distinct}: ${same.who.name} already approved for ${stage.distinct} ${value}` };
  }
  return { stage: cur };
}

export function describeStage(s: ApprovalStage): string {
  const from = [...s.groups.map((g) => `group ${g}`), ...s.users.map((u) => `user ${u}`), ...(s.oncall ?? []).map((r) => `on-call ${r}`)].join(' or ');
  const esc = (s.escalate ?? []).map((t) => `, after ${formatDuration(t.afterSeconds)} also ${[...t.groups.map((g) => `group ${g}`), ...t.users.map((u) => `user ${u}`)].join(' or ')}`).join('');
  const remind = s.remindEverySeconds ? `, reminded every ${Math.round(s.remindEverySeconds / 60)}m` : '';
  return `${s.count} of ${from}${s.distinct ? ` with distinct ${s.distinct}` : ''}${esc}${remind}`;
}

/** Keep the stages whose `when` condition holds for this request (decided once, at filing). */
export function applyStageConditions(policy: Policy, stages: ApprovalStage[], vars: ConditionVars): ApprovalStage[] {
  return stages
    .filter((s) => {
      if (!s.conditional) return true;
      const rule = policy.rules.find((r) => r.name === s.rule);
      const cond = rule && rule.approval !== 'auto' ? rule.approval.stages[s.ruleStage ?? -1]?.when : undefined;
      if (!cond) return true;
      try {
        return cond.test(vars);
      } catch {
        return true; // cannot tell: keep the stage (stricter)
      }
    })
    .map(({ conditional: _c, ...s }) => s);
}

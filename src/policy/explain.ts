// "What would I get, and who approves?" — answered from the policy alone,
// without filing anything. Pure, like the evaluation it explains. `explainRequest`
// answers from the rules; `explainFiling` answers as filing would at a given time
// (automatic rules, conditional stages, duration, ticket and fields checked), and
// is what `ajar policy explain` and `ajar policy test` both use, so they cannot
// drift from each other or from filing.
import type { Config, Identity } from '../config.js';
import { formatDuration } from '../domain/duration.js';
import { canonicalResource, type Resource } from '../domain/resource.js';
import { chainProblem, maxApprovals, valuesFor } from './chain.js';
import { decideAtFiling, filingVars } from './filing.js';
import { onCallLookup } from './oncall.js';
import { type ApprovalStage, canApproveStage, type Escalation, evaluateRequest, fieldsProblem, type OnCall, type Plan, type Policy, ticketProblem } from './policy.js';

export interface ExplainedStage {
  rule: string;
  count: number;
  groups: string[];
  users: string[];
  oncall: string[];
  distinct: string | null;
  escalate: Escalation[];
  remindEverySeconds: number | null;
  approvers: string[];
  /** enough eligible people for this stage on its own */
  satisfiable: boolean;
}

export interface Explanation {
  subject: string;
  resources: string[];
  actions: string[];
  eligible: boolean;
  /** why not, when not eligible */
  reason: string | null;
  rules: string[];
  defaultDurationSeconds: number | null;
  maxDurationSeconds: number | null;
  maxUses: number | null;
  autoApproved: boolean;
  stages: ExplainedStage[];
  /** can the whole chain be satisfied by different people, none of them the requester? */
  chain: { satisfiable: boolean; problem: string | null };
  justification: { reasonRequired: true; ticketRequired: boolean; ticketPatterns: string[]; fields: { name: string; description: string | null; pattern: string | null; required: boolean }[] };
  minDurationSeconds: number | null;
  /** a CEL automatic rule that would decide it */
  automatic?: { decision: 'approve' | 'deny'; rule: string; reason: string | null };
  /** the plan evaluated (for callers that decide its conditions); not part of the answer */
  plan: Plan | null;
  /** the command that would file this request */
  command: string | null;
}

/**
 * `identities` are the candidates for approval (already without disabled ones);
 * the requester is never among the approvers of their own request.
 */
export function explainRequest(
  policy: Policy,
  who: Identity,
  resources: Resource[],
  actions: string[],
  identities: Identity[],
  opts: { breakGlass?: boolean; onCall?: OnCall } = {},
): Explanation {
  const ev = evaluateRequest(policy, who, resources, actions, opts);
  const base = { subject: who.name, resources: resources.map(canonicalResource), actions };
  const noTicket = { reasonRequired: true as const, ticketRequired: false, ticketPatterns: [], fields: [] };
  if (!ev.eligible) {
    return { ...base, plan: null, justification: noTicket, eligible: false, reason: ev.reason, rules: [], defaultDurationSeconds: null, minDurationSeconds: null, maxDurationSeconds: null, maxUses: null, autoApproved: false, stages: [], chain: { satisfiable: true, problem: null }, command: null };
  }
  const p = ev.plan;
  const ticket = p.ticket ?? { required: false, patterns: [] };
  const command = `ajar request ${base.resources.map((r) => `--resource ${r}`).join(' ')} ${actions.map((a) => `--action ${a}`).join(' ')} --reason "..."${ticket.required ? ' --ticket ...' : ''}${(p.prompts ?? []).filter((f) => f.required).map((f) => ` --field ${f.name}=...`).join('')}${opts.breakGlass ? ' --break-glass' : ''}`;
  return {
    ...base,
    ...approvalOf(p.stages, who, identities, opts.onCall),
    plan: p,
    justification: { reasonRequired: true, ticketRequired: ticket.required, ticketPatterns: ticket.patterns, fields: p.prompts ?? [] },
    eligible: true,
    reason: null,
    minDurationSeconds: p.minDurationSeconds,
    rules: p.rules,
    defaultDurationSeconds: p.defaultDurationSeconds,
    maxDurationSeconds: p.maxDurationSeconds,
    maxUses: p.maxUses,
    autoApproved: p.auto,
    command,
  };
}

/** Who can approve each stage, and whether the chain as a whole can be satisfied. */
function approvalOf(stages: ApprovalStage[], who: Identity, identities: Identity[], onCall: OnCall | undefined): Pick<Explanation, 'stages' | 'chain'> {
  const others = identities.filter((i) => i.name !== who.name);
  const explained = stages.map((s) => {
    const eligible = others.filter((i) => canApproveStage(s, i, onCall));
    const people = new Map(eligible.map((i) => [i.name, valuesFor(s, i, { onCall })] as const));
    return {
      rule: s.rule,
      count: s.count,
      groups: s.groups,
      users: s.users,
      oncall: s.oncall ?? [],
      distinct: s.distinct ?? null,
      escalate: s.escalate ?? [],
      remindEverySeconds: s.remindEverySeconds ?? null,
      approvers: eligible.map((i) => i.name).sort(),
      satisfiable: maxApprovals([{ count: s.count, distinct: !!s.distinct, people }]) >= s.count,
    };
  });
  const problem = chainProblem(stages, identities, who.name, onCall) ?? null;
  return { stages: explained, chain: { satisfiable: problem === null, problem } };
}

export interface FilingQuestion {
  who: Identity;
  resources: Resource[];
  actions: string[];
  /** when it would be filed: time conditions and on-call see this time */
  at: Date;
  breakGlass?: boolean | undefined;
  /** default: the plan's default duration */
  durationSeconds?: number | undefined;
  ticket?: string | undefined;
  reason?: string | undefined;
  fields?: Record<string, string> | undefined;
}

export interface FilingExplanation extends Omit<Explanation, 'plan'> {
  at: string;
  breakGlass: boolean;
  durationSeconds: number | null;
  /** what filing would refuse, if anything: the duration, the ticket, the fields */
  problems: { duration: string | null; ticket: string | null; fields: string | null };
  /** inputs the answer assumed because they were not given (automatic rules may depend on them) */
  assumed: string[];
}

/** The answer filing would give at `at`, without filing: as `ajar request` would be decided. */
export function explainFiling(config: Config, q: FilingQuestion, identities: Identity[]): FilingExplanation {
  const onCall = onCallLookup(config.policy.oncall, q.at);
  const e = explainRequest(config.policy, q.who, q.resources, q.actions, identities, { breakGlass: q.breakGlass === true, onCall });
  const { plan: evaluated, ...rest } = e;
  const assumed: string[] = [];
  const out: FilingExplanation = { ...rest, at: q.at.toISOString(), breakGlass: q.breakGlass === true, durationSeconds: null, problems: { duration: null, ticket: null, fields: null }, assumed };
  if (!evaluated) return out;
  const plan = evaluated;
  const duration = q.durationSeconds ?? e.defaultDurationSeconds!;
  if (q.durationSeconds === undefined) assumed.push(`the default duration (${formatDuration(duration)})`);
  out.durationSeconds = duration;
  if (duration > e.maxDurationSeconds!) out.problems.duration = `longer than the ${formatDuration(e.maxDurationSeconds!)} the policy allows`;
  else if (duration < (e.minDurationSeconds ?? 0)) out.problems.duration = `shorter than the ${formatDuration(e.minDurationSeconds!)} the policy requires`;
  if (q.ticket === undefined) assumed.push('no ticket');
  out.problems.ticket = q.ticket === undefined ? null : (ticketProblem(plan, q.ticket) ?? null);
  if (q.fields === undefined) assumed.push('no fields');
  out.problems.fields = q.fields === undefined ? null : (fieldsProblem(plan, q.fields) ?? null);
  if (q.reason === undefined) assumed.push('an empty reason');
  // Automatic rules and conditional stages, decided as filing decides them.
  const vars = filingVars(config, { who: q.who, resources: q.resources, actions: q.actions, durationSeconds: duration, ticket: q.ticket, reason: q.reason ?? '', fields: q.fields ?? {} }, q.at);
  const filed = decideAtFiling(config.policy, plan, vars);
  Object.assign(out, approvalOf(filed.stages, q.who, identities, onCall));
  if (filed.automatic) out.automatic = filed.automatic;
  out.autoApproved = filed.auto && filed.automatic?.decision !== 'deny';
  if (out.autoApproved) {
    out.stages = [];
    out.chain = { satisfiable: true, problem: null };
  }
  return out;
}

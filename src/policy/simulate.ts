// Replays recorded requests under a new policy and says what would change,
// so a policy change is judged before it ships. Each request is filed again as
// it was asked, at the time it was filed: the automatic CEL rules and the
// conditional stages see that time (in the new policy's time zone), who was on
// call then (in the new schedule), the recorded reason, ticket and fields, and
// the requester and resources as the new config describes them.
// Pure: the caller loads the rows.
import type { Config } from '../config.js';
import { formatDuration } from '../domain/duration.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { decideAtFiling, filingVars } from './filing.js';
import { onCallLookup } from './oncall.js';
import { type ApprovalStage, describeStage, evaluateRequest, fieldsProblem, type Plan, ticketProblem } from './policy.js';

export interface RecordedRequest {
  id: string;
  requester: string;
  /** as asked (before any approver narrowed them) */
  resources: string[];
  actions: string[];
  durationSeconds: number;
  state: string;
  /** the plan as filed: stages after their conditions, the automatic decision */
  plan: Plan;
  createdAt: string;
  reason: string;
  ticket: string | null;
  fields: Record<string, string>;
}

/** A request the policy refused when it was asked (request.refused), as asked. */
export interface RefusedRequest {
  /** the audit event's id */
  id: string;
  requester: string;
  resources: string[];
  actions: string[];
  /** as asked; null = the default */
  durationSeconds: number | null;
  createdAt: string;
  reason: string;
  ticket: string | null;
  fields: Record<string, string>;
  breakGlass: boolean;
  /** why it was refused then */
  refusal: string;
}

type Automatic = NonNullable<Plan['automatic']>;

export interface SimulatedChange {
  id: string;
  requester: string;
  resources: string[];
  actions: string[];
  createdAt: string;
  state: string;
  before: { eligible: true; auto: boolean; rules: string[]; maxDuration: string; automatic: Automatic | null; stages: string[] };
  after: { eligible: boolean; auto: boolean | null; rules: string[]; maxDuration: string | null; reason: string | null; automatic: Automatic | null; stages: string[] };
  changes: string[];
}

export interface Simulation {
  requests: number;
  changed: number;
  summary: {
    newlyRefused: number;
    nowAuto: number;
    nowReviewed: number;
    /** an automatic deny rule would refuse it at filing */
    nowAutoDenied: number;
    /** it was denied by an automatic rule, and would not be now */
    noLongerAutoDenied: number;
    durationTooLong: number;
    /** the longest it may be asked for changed */
    maxDurationChanged: number;
    otherApprovers: number;
    /** refused when asked, and the new policy would file it */
    nowAllowed: number;
  };
  changes: SimulatedChange[];
  /** requests refused when asked that the new policy would let through */
  allowed: { id: string; requester: string; resources: string[]; actions: string[]; createdAt: string; refusal: string; outcome: string }[];
  /** how many refused requests were replayed */
  refusals: number;
}

type Outcome = 'auto-denied' | 'auto-approved' | 'reviewed';

function outcomeOf(p: Plan): Outcome {
  if (p.automatic?.decision === 'deny') return 'auto-denied';
  return p.auto ? 'auto-approved' : 'reviewed';
}

const byRule = (a: Automatic | null | undefined) => (a ? ` by rule ${a.rule}` : '');
const stageText = (s: ApprovalStage) => `${describeStage(s)} (rule ${s.rule})`;
/** Who approves a stage, whatever the rule is called: plans recorded before a field existed lack it. */
const stageKey = (s: ApprovalStage) =>
  JSON.stringify([s.count, [...s.groups].sort(), [...s.users].sort(), [...(s.oncall ?? [])].sort(), s.distinct ?? null]);

/** File a request again under the new config, at the time it was asked: the plan, or why not. */
function fileUnder(
  next: Config,
  ask: { requester: string; resources: string[]; actions: string[]; durationSeconds: number | null; createdAt: string; reason: string; ticket: string | null; fields: Record<string, string>; breakGlass: boolean },
): { ok: true; plan: Plan; durationSeconds: number } | { ok: false; reason: string } {
  const who = next.identities.get(ask.requester);
  if (!who || who.disabled) return { ok: false, reason: `${ask.requester} is ${who ? 'disabled' : 'not'} in the new config` };
  const at = new Date(ask.createdAt);
  const resources = ask.resources.map((t) => parseResource(t)).filter((p): p is { ok: true; value: Resource } => p.ok).map((p) => p.value);
  const ev = evaluateRequest(next.policy, who, resources, ask.actions, { breakGlass: ask.breakGlass, onCall: onCallLookup(next.policy.oncall, at) });
  if (!ev.eligible) return { ok: false, reason: ev.reason };
  // Fields the new policy no longer asks for would simply not be given.
  const fields = Object.fromEntries(Object.entries(ask.fields).filter(([k]) => (ev.plan.prompts ?? []).some((p) => p.name === k)));
  const ticketWrong = ticketProblem(ev.plan, ask.ticket);
  if (ticketWrong) return { ok: false, reason: `ticket: ${ticketWrong}` };
  const fieldsWrong = fieldsProblem(ev.plan, fields);
  if (fieldsWrong) return { ok: false, reason: `fields: ${fieldsWrong}` };
  const durationSeconds = ask.durationSeconds ?? ev.plan.defaultDurationSeconds;
  const vars = filingVars(next, { who, resources, actions: ask.actions, durationSeconds, ticket: ask.ticket, reason: ask.reason, fields }, at);
  return { ok: true, plan: decideAtFiling(next.policy, ev.plan, vars), durationSeconds };
}

export function simulate(next: Config, recorded: RecordedRequest[], refusedThen: RefusedRequest[] = []): Simulation {
  const summary: Simulation['summary'] = { newlyRefused: 0, nowAuto: 0, nowReviewed: 0, nowAutoDenied: 0, noLongerAutoDenied: 0, durationTooLong: 0, maxDurationChanged: 0, otherApprovers: 0, nowAllowed: 0 };
  const changes: SimulatedChange[] = [];
  for (const r of recorded) {
    const was = r.plan;
    const before: SimulatedChange['before'] = {
      eligible: true,
      auto: was.auto,
      rules: was.rules,
      maxDuration: formatDuration(was.maxDurationSeconds),
      automatic: was.automatic ?? null,
      stages: was.stages.map(stageText),
    };
    const list: string[] = [];
    const refused = (reason: string): SimulatedChange['after'] => {
      list.push(`would be refused: ${reason}`);
      summary.newlyRefused++;
      return { eligible: false, auto: null, rules: [], maxDuration: null, reason, automatic: null, stages: [] };
    };
    let after: SimulatedChange['after'];
    const filed = fileUnder(next, { ...r, breakGlass: was.breakGlass === true });
    if (!filed.ok) after = refused(filed.reason);
    else {
      const p = filed.plan;
      after = { eligible: true, auto: p.auto, rules: p.rules, maxDuration: formatDuration(p.maxDurationSeconds), reason: null, automatic: p.automatic ?? null, stages: p.stages.map(stageText) };
      const [then, now] = [outcomeOf(was), outcomeOf(p)];
      if (now === 'auto-denied' && (then !== 'auto-denied' || was.automatic?.rule !== p.automatic?.rule)) {
        list.push(`would be auto-denied by rule ${p.automatic!.rule}${p.automatic!.reason ? ` (${p.automatic!.reason})` : ''}${then === 'auto-denied' ? ` instead of rule ${was.automatic!.rule}` : ''}`);
        summary.nowAutoDenied++;
      } else if (then === 'auto-denied' && now !== 'auto-denied') {
        list.push(`would no longer be auto-denied by rule ${was.automatic!.rule}: it would be ${now === 'auto-approved' ? `auto-approved${byRule(p.automatic)}` : 'reviewed'}`);
        summary.noLongerAutoDenied++;
      } else if (then === 'reviewed' && now === 'auto-approved') {
        list.push(`would be auto-approved${byRule(p.automatic)} instead of reviewed`);
        summary.nowAuto++;
      } else if (then === 'auto-approved' && now === 'reviewed') {
        list.push('would need review instead of auto-approval');
        summary.nowReviewed++;
      } else if (then === 'reviewed' && now === 'reviewed') {
        // Conditional stages are decided at the recorded time: "outside work hours, also on-call".
        const had = new Set(was.stages.map(stageKey));
        const has = new Set(p.stages.map(stageKey));
        const added = p.stages.filter((s) => !had.has(stageKey(s)));
        const dropped = was.stages.filter((s) => !has.has(stageKey(s)));
        for (const s of added) list.push(`would also need ${stageText(s)}`);
        for (const s of dropped) list.push(`would no longer need ${stageText(s)}`);
        if (added.length || dropped.length) summary.otherApprovers++;
      }
      if (r.durationSeconds > p.maxDurationSeconds) {
        list.push(`asked ${formatDuration(r.durationSeconds)}, more than the new maximum ${formatDuration(p.maxDurationSeconds)}`);
        summary.durationTooLong++;
      } else if (p.maxDurationSeconds !== was.maxDurationSeconds) {
        list.push(`could be asked for at most ${formatDuration(p.maxDurationSeconds)} instead of ${formatDuration(was.maxDurationSeconds)}`);
        summary.maxDurationChanged++;
      }
    }
    if (list.length) changes.push({ id: r.id, requester: r.requester, resources: r.resources, actions: r.actions, createdAt: r.createdAt, state: r.state, before, after, changes: list });
  }
  // Refused when asked: would the new policy file them?
  const allowed: Simulation['allowed'] = [];
  for (const r of refusedThen) {
    const filed = fileUnder(next, r);
    if (!filed.ok) continue;
    const p = filed.plan;
    if (filed.durationSeconds > p.maxDurationSeconds || filed.durationSeconds < p.minDurationSeconds) continue;
    if (outcomeOf(p) === 'auto-denied') continue;
    const outcome = p.auto ? `auto-approved${byRule(p.automatic)}` : `reviewed: ${p.stages.map(stageText).join('; then ')}`;
    allowed.push({ id: r.id, requester: r.requester, resources: r.resources, actions: r.actions, createdAt: r.createdAt, refusal: r.refusal, outcome });
    summary.nowAllowed++;
  }
  return { requests: recorded.length, changed: changes.length, summary, changes, allowed, refusals: refusedThen.length };
}

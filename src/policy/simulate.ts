// Replays recorded requests under a new policy and says what would change,
// so a policy change is judged before it ships. Pure: the caller loads the rows.
import type { Config } from '../config.js';
import { formatDuration } from '../domain/duration.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { evaluateRequest, type Plan } from './policy.js';

export interface RecordedRequest {
  id: string;
  requester: string;
  resources: string[];
  actions: string[];
  durationSeconds: number;
  state: string;
  plan: Plan;
  createdAt: string;
}

export interface SimulatedChange {
  id: string;
  requester: string;
  resources: string[];
  actions: string[];
  createdAt: string;
  state: string;
  before: { eligible: true; auto: boolean; rules: string[]; maxDuration: string };
  after: { eligible: boolean; auto: boolean | null; rules: string[]; maxDuration: string | null; reason: string | null };
  changes: string[];
}

export interface Simulation {
  requests: number;
  changed: number;
  summary: { newlyRefused: number; nowAuto: number; nowReviewed: number; durationTooLong: number; otherApprovers: number };
  changes: SimulatedChange[];
}

export function simulate(next: Config, recorded: RecordedRequest[]): Simulation {
  const summary = { newlyRefused: 0, nowAuto: 0, nowReviewed: 0, durationTooLong: 0, otherApprovers: 0 };
  const changes: SimulatedChange[] = [];
  for (const r of recorded) {
    const before = { eligible: true as const, auto: r.plan.auto, rules: r.plan.rules, maxDuration: formatDuration(r.plan.maxDurationSeconds) };
    const who = next.identities.get(r.requester);
    const resources = r.resources.map((t) => parseResource(t)).filter((p): p is { ok: true; value: Resource } => p.ok).map((p) => p.value);
    const ev = who ? evaluateRequest(next.policy, who, resources, r.actions) : { eligible: false as const, reason: `${r.requester} is not in the new config` };
    const list: string[] = [];
    let after: SimulatedChange['after'];
    if (!ev.eligible) {
      after = { eligible: false, auto: null, rules: [], maxDuration: null, reason: ev.reason };
      list.push(`would be refused: ${ev.reason}`);
      summary.newlyRefused++;
    } else {
      const p = ev.plan;
      after = { eligible: true, auto: p.auto, rules: p.rules, maxDuration: formatDuration(p.maxDurationSeconds), reason: null };
      if (p.auto && !r.plan.auto) {
        list.push('would be auto-approved instead of reviewed');
        summary.nowAuto++;
      }
      if (!p.auto && r.plan.auto) {
        list.push('would need review instead of auto-approval');
        summary.nowReviewed++;
      }
      if (r.durationSeconds > p.maxDurationSeconds) {
        list.push(`asked ${formatDuration(r.durationSeconds)}, more than the new maximum ${formatDuration(p.maxDurationSeconds)}`);
        summary.durationTooLong++;
      }
      const key = (stages: Plan['stages']) => JSON.stringify(stages.map((s) => [s.count, [...s.groups].sort(), [...s.users].sort()]).sort());
      if (!p.auto && !r.plan.auto && key(p.stages) !== key(r.plan.stages)) {
        list.push('other approvers');
        summary.otherApprovers++;
      }
    }
    if (list.length) changes.push({ id: r.id, requester: r.requester, resources: r.resources, actions: r.actions, createdAt: r.createdAt, state: r.state, before, after, changes: list });
  }
  return { requests: recorded.length, changed: changes.length, summary, changes };
}

// What is decided once, when a request is filed, from the request and the time
// it is filed: the automatic CEL rules (a deny beats every approve) and which
// conditional approval stages apply. Filing, explaining, policy tests and
// `ajar policy simulate` all go through here, so they cannot drift apart.
// Pure: the caller says when.
import type { Config, Identity } from '../config.js';
import { canonicalResource, type Resource } from '../domain/resource.js';
import { automaticDecision, type ConditionVars, conditionVars } from './conditions.js';
import { onCallAt } from './oncall.js';
import { applyStageConditions, type Plan, type Policy } from './policy.js';

export interface FiledRequest {
  who: Identity;
  resources: Resource[];
  actions: string[];
  durationSeconds: number;
  ticket?: string | null | undefined;
  reason: string;
  fields?: Record<string, string> | undefined;
}

/** The labels configured on a requested resource; a branch has its repository's. */
export function resourceLabels(config: Config, r: Resource): Record<string, string> {
  return config.resources.find((c) => c.resource.kind === r.kind && c.resource.name === r.name && (r.kind !== 'env' || c.resource.scope === r.scope))?.labels ?? {};
}

/** What CEL conditions see about a request filed at `at`: the time in the policy's zone, who was on call then. */
export function filingVars(config: Config, r: FiledRequest, at: Date): ConditionVars {
  return conditionVars({
    who: r.who,
    resources: r.resources,
    resourceIds: r.resources.map(canonicalResource),
    labels: (x) => resourceLabels(config, x),
    actions: r.actions,
    durationSeconds: r.durationSeconds,
    ticket: r.ticket,
    reason: r.reason,
    at,
    timezone: config.policy.timezone,
    fields: r.fields ?? {},
    oncall: onCallAt(config.policy.oncall, at),
  });
}

/**
 * The plan as filed: the conditional stages that hold kept, the others dropped,
 * and the automatic decision recorded. It is auto-approved when no stage is left
 * or an approve rule matched. Break-glass skips the automatic rules: it is for
 * when the usual rules are in the way.
 */
export function decideAtFiling(policy: Policy, plan: Plan, vars: ConditionVars): Plan {
  const automatic = plan.breakGlass ? undefined : automaticDecision(policy.automatic, vars);
  const stages = applyStageConditions(policy, plan.stages, vars);
  if (automatic?.decision === 'approve') return { ...plan, stages: [], auto: true, automatic };
  return { ...plan, stages, auto: stages.length === 0, automatic: automatic ?? null };
}

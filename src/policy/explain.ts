// "What would I get, and who approves?" — answered from the policy alone,
// without filing anything. Pure, like the evaluation it explains.
import type { Identity } from '../config.js';
import { canonicalResource, type Resource } from '../domain/resource.js';
import { type ApprovalStage, canApproveStage, type Escalation, evaluateRequest, type OnCall, type Policy } from './policy.js';

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
  stages: { rule: string; count: number; groups: string[]; users: string[]; oncall: string[]; distinct: string | null; escalate: Escalation | null; remindEverySeconds: number | null; approvers: string[]; satisfiable: boolean }[];
  justification: { reasonRequired: true; ticketRequired: boolean; ticketPatterns: string[]; fields: { name: string; description: string | null; pattern: string | null; required: boolean }[] };
  minDurationSeconds: number | null;
  /** a CEL automatic rule that would decide it now */
  automatic?: { decision: 'approve' | 'deny'; rule: string; reason: string | null };
  /** the plan's stages, parallel to `stages` (for callers that filter conditional ones) */
  planStages: ApprovalStage[];
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
    return { ...base, planStages: [], justification: noTicket, eligible: false, reason: ev.reason, rules: [], defaultDurationSeconds: null, minDurationSeconds: null, maxDurationSeconds: null, maxUses: null, autoApproved: false, stages: [], command: null };
  }
  const p = ev.plan;
  const stages = p.stages.map((s) => {
    const eligible = identities.filter((i) => i.name !== who.name && canApproveStage(s, i, opts.onCall));
    const approvers = eligible.map((i) => i.name).sort();
    const distinct = s.distinct ? new Set(eligible.map((i) => i.attributes[s.distinct!]).filter((v) => v !== undefined)).size : approvers.length;
    return { rule: s.rule, count: s.count, groups: s.groups, users: s.users, oncall: s.oncall ?? [], distinct: s.distinct ?? null, escalate: s.escalate ?? null, remindEverySeconds: s.remindEverySeconds ?? null, approvers, satisfiable: distinct >= s.count };
  });
  const ticket = p.ticket ?? { required: false, patterns: [] };
  const command = `ajar request ${base.resources.map((r) => `--resource ${r}`).join(' ')} ${actions.map((a) => `--action ${a}`).join(' ')} --reason "..."${ticket.required ? ' --ticket ...' : ''}${(p.prompts ?? []).filter((f) => f.required).map((f) => ` --field ${f.name}=...`).join('')}`;
  return {
    ...base,
    planStages: p.stages,
    justification: { reasonRequired: true, ticketRequired: ticket.required, ticketPatterns: ticket.patterns, fields: p.prompts ?? [] },
    eligible: true,
    reason: null,
    minDurationSeconds: p.minDurationSeconds,
    rules: p.rules,
    defaultDurationSeconds: p.defaultDurationSeconds,
    maxDurationSeconds: p.maxDurationSeconds,
    maxUses: p.maxUses,
    autoApproved: p.auto,
    stages,
    command,
  };
}

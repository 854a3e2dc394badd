// What the API returns for requests and grants, built from rows.
import type { Selectable } from 'kysely';
import { formatDuration } from '../domain/duration.js';
import { effectiveGrantState, effectiveRequestState, type GrantState, type GrantView, type RequestState } from '../domain/grant.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { type Plan, storedPlan } from '../policy/policy.js';
import type { AccessRequestTable, GrantTable, RequestReviewTable } from '../store/schema.js';

export type RequestRow = Selectable<AccessRequestTable>;
export type GrantRow = Selectable<GrantTable>;
export type ReviewRow = Selectable<RequestReviewTable>;

/** A jsonb column, whether or not the driver already parsed it. */
export const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export interface RequestDto {
  id: string;
  requester: string;
  resources: string[];
  actions: string[];
  duration: string;
  durationSeconds: number;
  startAt: string | null;
  maxUses: number | null;
  reason: string;
  ticket: string | null;
  fields: Record<string, string>;
  state: RequestState;
  rules: string[];
  autoApproved: boolean;
  approvals: { rule: string; groups: string[]; users: string[]; count: number; have: number }[];
  reviews: { reviewer: string; decision: string; reason: string | null; at: string }[];
  grantId: string | null;
  extendsGrantId: string | null;
  /** the commit or image digest the approval is bound to */
  artifact: string | null;
  policyVersion: string;
  createdAt: string;
  expiresAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  decisionReason: string | null;
}

export function requestDto(
  r: RequestRow,
  reviews: ReviewRow[],
  grantId: string | null,
  at: Date,
  haveByStage: number[],
): RequestDto {
  const plan = storedPlan(json<Plan>(r.plan));
  return {
    id: r.id,
    requester: r.requester,
    resources: json<string[]>(r.resources),
    actions: json<string[]>(r.actions),
    duration: formatDuration(r.duration_seconds),
    durationSeconds: r.duration_seconds,
    startAt: iso(r.start_at),
    maxUses: r.max_uses,
    reason: r.reason,
    ticket: r.ticket,
    fields: json<Record<string, string>>(r.fields ?? {}),
    state: effectiveRequestState({ state: r.state as RequestState, expiresAt: new Date(r.expires_at) }, at),
    rules: plan.rules,
    autoApproved: plan.auto,
    approvals: plan.stages.map((s, i) => ({ ...s, have: haveByStage[i] ?? 0 })),
    reviews: reviews.map((v) => ({ reviewer: v.reviewer, decision: v.decision, reason: v.reason, at: iso(v.created_at)! })),
    grantId,
    extendsGrantId: r.extends_grant_id,
    artifact: r.artifact,
    policyVersion: r.policy_version,
    createdAt: iso(r.created_at)!,
    expiresAt: iso(r.expires_at)!,
    decidedAt: iso(r.decided_at),
    decidedBy: r.decided_by,
    decisionReason: r.decision_reason,
  };
}

export interface GrantDto {
  id: string;
  requestId: string;
  subject: string;
  resources: string[];
  actions: string[];
  startsAt: string;
  endsAt: string;
  maxUses: number | null;
  uses: number;
  state: GrantState;
  autoApproved: boolean;
  endedAt: string | null;
  endedBy: string | null;
  endReason: string | null;
  breakGlass: boolean;
  /** bound to one build: allows that commit or image digest only */
  artifact: string | null;
  /** break-glass grants stay under review until someone else closes it */
  review: { open: boolean; closedAt: string | null; closedBy: string | null; note: string | null } | null;
}

export function grantDto(g: GrantRow, at: Date): GrantDto {
  return {
    id: g.id,
    requestId: g.request_id,
    subject: g.subject,
    resources: json<string[]>(g.resources),
    actions: json<string[]>(g.actions),
    startsAt: iso(g.starts_at)!,
    endsAt: iso(g.ends_at)!,
    maxUses: g.max_uses,
    uses: g.uses,
    state: effectiveGrantState(grantView(g), at),
    autoApproved: g.auto_approved,
    endedAt: iso(g.ended_at),
    endedBy: g.ended_by,
    endReason: g.end_reason,
    breakGlass: g.break_glass,
    artifact: g.artifact,
    review: g.break_glass ? { open: !g.review_closed_at, closedAt: iso(g.review_closed_at), closedBy: g.review_closed_by, note: g.review_note } : null,
  };
}

const parsedCache = new Map<string, Resource>();
function parsed(text: string): Resource {
  let r = parsedCache.get(text);
  if (!r) {
    const p = parseResource(text);
    // A stored resource that no longer parses can never allow anything.
    r = p.ok ? p.value : { kind: 'git', name: '\u0000invalid' };
    if (parsedCache.size > 50_000) parsedCache.clear();
    parsedCache.set(text, r);
  }
  return r;
}

export function grantView(g: GrantRow): GrantView {
  return {
    id: g.id,
    subject: g.subject,
    resources: json<string[]>(g.resources).map(parsed),
    actions: json<string[]>(g.actions),
    startsAt: new Date(g.starts_at),
    endsAt: new Date(g.ends_at),
    maxUses: g.max_uses,
    uses: g.uses,
    state: g.state as GrantState,
    artifact: g.artifact,
  };
}

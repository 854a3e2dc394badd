// Access requests: file one, review it, cancel it. Every change is one
// transaction holding the row lock, the change and its audit events.
import type { Kysely, Transaction } from 'kysely';
import { artifactProblem } from '../domain/artifact.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { AppError, badInput, notFound } from '../domain/errors.js';
import { effectiveRequestState, type RequestState } from '../domain/grant.js';
import { canonicalResource, isPattern, parseResource, type Resource, resourceCovers, validateAction } from '../domain/resource.js';
import type { ConditionVars } from '../policy/conditions.js';
import { chainProblem } from '../policy/chain.js';
import { decideAtFiling, type FiledRequest, filingVars } from '../policy/filing.js';
import { onCallLookup } from '../policy/oncall.js';
import {
  type ApprovalStage,
  approvalProgress,
  canApproveStage,
  describeStage,
  evaluateRequest,
  isFullyApproved,
  type Plan,
  type OnCall,
  type Review,
  isEscalated,
  currentStage,
  nextEscalation,
  nextReminder,
  fieldsProblem,
  stageFor,
  storedPlan,
  ticketProblem,
} from '../policy/policy.js';
import type { DB } from '../store/schema.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type Actor, type AppContext, activeIdentities, activeIdentity, inTransaction, newId } from './context.js';
import { verifyTicket } from '../notify/jira.js';
import { type RequestDto, type RequestRow, requestDto } from './views.js';
import { workloadArtifactProblem } from './workloads.js';

export interface RequestInput {
  resources: string[];
  actions: string[];
  duration?: string | undefined;
  startAt?: string | undefined;
  reason: string;
  ticket?: string | undefined;
  maxUses?: number | undefined;
  /** use a break-glass rule: granted at once, flagged, reviewed afterwards */
  breakGlass?: boolean | undefined;
  /** typed justification fields asked by the policy, e.g. { incident_id: "INC-12" } */
  fields?: Record<string, string> | undefined;
  /** bind the approval to one build: a commit id or an image digest */
  artifact?: string | undefined;
  /** the pipeline filing it (run URL, commit, actor), for the audit log */
  pipeline?: Record<string, string> | undefined;
}

const MAX_START_AHEAD_S = 30 * 86400;

/** Parse and check the resources of a request against the configured ones. */
export function resolveResources(ctx: AppContext, texts: string[], actions: string[]): Resource[] {
  if (texts.length === 0) throw badInput('resources: name at least one resource');
  if (actions.length === 0) throw badInput('actions: name at least one action');
  const out: Resource[] = [];
  for (const text of texts) {
    const p = parseResource(text);
    if (!p.ok) throw badInput(`resources: ${p.error}`, { field: 'resources' });
    const r = p.value;
    if (r.name.includes('*')) throw badInput(`resources: "${text}": name one resource; patterns are allowed in the branch or ref part only`, { field: 'resources' });
    const known = ctx.config.resources.some(
      (c) => c.resource.kind === r.kind && c.resource.name === r.name && (r.kind !== 'env' || c.resource.scope === r.scope),
    );
    if (!known) throw badInput(`resources: unknown resource "${text}"; see \`ajar resources\` for the ones Ajar manages`, { field: 'resources' });
    if (r.kind === 'env' && isPattern(r)) throw badInput(`resources: "${text}": name one environment`, { field: 'resources' });
    for (const a of actions) {
      const v = validateAction(r, a);
      if (!v.ok) throw badInput(`actions: ${v.error}`, { field: 'actions' });
    }
    out.push(r);
  }
  return out;
}

function durationSeconds(text: string | undefined, plan: Plan): number {
  if (text === undefined) return plan.defaultDurationSeconds;
  const d = parseDuration(text);
  if (!d.ok) throw badInput(`duration: ${d.error}`, { field: 'duration' });
  if (d.value > plan.maxDurationSeconds) {
    throw badInput(`duration: ${text} is longer than the ${fmt(plan.maxDurationSeconds)} the policy allows (rule ${plan.rules.join(', ')})`, { field: 'duration' });
  }
  if (d.value < plan.minDurationSeconds) {
    throw badInput(`duration: ${text} is shorter than the ${fmt(plan.minDurationSeconds)} the policy requires (rule ${plan.rules.join(', ')})`, { field: 'duration' });
  }
  return d.value;
}

const fmt = (s: number) => (s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`);

function checkReason(reason: unknown, ticket: unknown) {
  if (typeof reason !== 'string' || reason.trim().length === 0) throw badInput('reason: say why you need this access', { field: 'reason' });
  if (reason.length > 2000) throw badInput('reason: at most 2000 characters', { field: 'reason' });
  if (ticket !== undefined && (typeof ticket !== 'string' || ticket.length === 0 || ticket.length > 200)) {
    throw badInput('ticket: between 1 and 200 characters', { field: 'ticket' });
  }
}

export async function createRequest(
  ctx: AppContext,
  actor: Actor,
  input: RequestInput,
  extendsGrant?: { id: string; startsAt: Date; endsAt: Date; extensions: number },
): Promise<RequestDto> {
  if (actor.via === 'local') throw new AppError('permission_denied', 'requests are filed by a person or service account with a token, not by the local admin');
  checkReason(input.reason, input.ticket);
  if (input.artifact !== undefined) {
    const bad = artifactProblem(input.artifact);
    if (bad) throw badInput(`artifact: ${bad}`, { field: 'artifact' });
  }
  const resources = resolveResources(ctx, input.resources, input.actions);
  const actions = [...new Set(input.actions)];
  const now = ctx.clock.now();
  const fields = input.fields ?? {};
  let plan: Plan;
  let duration: number;
  try {
    ({ plan, duration } = await planUnderPolicy(ctx, actor, input, resources, actions, fields, now, extendsGrant));
  } catch (e) {
    // The policy said no: recorded as asked, so an auditor sees who tried for what, and
    // `ajar policy simulate` can tell which refusals a new policy would turn into grants.
    if (e instanceof AppError) await auditRefusal(ctx, actor, input, resources, actions, e, now, extendsGrant?.id);
    throw e;
  }
  const automatic = plan.automatic;
  let startAt: Date | null = null;
  if (input.startAt !== undefined) {
    startAt = new Date(input.startAt);
    if (Number.isNaN(startAt.getTime())) throw badInput('start: not a time; use ISO 8601, e.g. 2026-12-01T09:00:00Z', { field: 'start' });
    if (startAt.getTime() < now.getTime() - 60_000) throw badInput('start: is in the past', { field: 'start' });
    if (startAt.getTime() > now.getTime() + MAX_START_AHEAD_S * 1000) throw badInput('start: at most 30 days ahead', { field: 'start' });
  }
  let maxUses: number | null = plan.maxUses;
  if (input.maxUses !== undefined) {
    if (!Number.isInteger(input.maxUses) || input.maxUses < 1 || input.maxUses > 10000) throw badInput('uses: a whole number from 1 to 10000', { field: 'uses' });
    if (plan.maxUses !== null && input.maxUses > plan.maxUses) throw badInput(`uses: the policy allows at most ${plan.maxUses}`, { field: 'uses' });
    maxUses = input.maxUses;
  }
  const id = newId('req');
  const canonical = resources.map(canonicalResource);
  const row = {
    id,
    requester: actor.name,
    resources: JSON.stringify(canonical),
    actions: JSON.stringify(actions),
    duration_seconds: duration,
    start_at: startAt,
    max_uses: maxUses,
    reason: input.reason.trim(),
    ticket: input.ticket ?? null,
    fields: JSON.stringify(fields),
    extends_grant_id: extendsGrant?.id ?? null,
    artifact: input.artifact ?? null,
    state: 'pending',
    plan: JSON.stringify(plan),
    policy_version: ctx.policyVersion,
    created_at: now,
    expires_at: new Date(now.getTime() + (plan.pendingTtlSeconds ?? ctx.config.policy.pendingTtlSeconds) * 1000),
    // The escalation timer of the first stage, which starts now, and its first reminder (see sweep.ts).
    escalates_at: nextEscalation(plan.stages, [], now)?.at ?? null,
    remind_at: plan.auto || automatic ? null : (nextReminder(plan.stages, [], now, now)?.at ?? null),
  };
  // A required ticket must exist in Jira (when Jira is configured): asked before anything is written.
  const ticketVerified = plan.ticket.required && input.ticket ? await verifyTicket(ctx, input.ticket) : false;
  await inTransaction(ctx, async (tx) => {
    await tx.insertInto('access_requests').values({ ...row, ticket_verified: ticketVerified }).execute();
    const events: AuditInput[] = [
      {
        type: extendsGrant ? 'grant.extension_requested' : 'request.created',
        actor: actor.name,
        subject: actor.name,
        resource: canonical.join(' '),
        action: actions.join(' '),
        requestId: id,
        grantId: extendsGrant?.id ?? null,
        reason: row.reason,
        details: { duration, startAt: startAt?.toISOString() ?? null, ticket: row.ticket, maxUses, rules: plan.rules, policyVersion: ctx.policyVersion, artifact: row.artifact, ...(input.pipeline ? { pipeline: input.pipeline } : {}) },
      },
    ];
    if (automatic?.decision === 'deny') {
      const why = automatic.reason ?? `denied automatically by rule ${automatic.rule}`;
      await tx.updateTable('access_requests').set({ state: 'denied', decided_at: now, decided_by: `policy:${automatic.rule}`, decision_reason: why }).where('id', '=', id).execute();
      events.push({ type: 'request.denied', actor: `policy:${automatic.rule}`, subject: actor.name, requestId: id, reason: why, resource: canonical.join(' '), action: actions.join(' '), details: { rule: automatic.rule, policyVersion: ctx.policyVersion } });
    } else if (plan.auto) {
      const by = automatic ? `policy:${automatic.rule}` : `policy:${plan.rules.join(',')}`;
      events.push(...(await approve(ctx, tx, await lockRequest(tx, id), by, automatic?.reason ?? 'auto-approved by policy', now)));
    }
    await appendAudit(tx, now, events);
  });
  return getRequest(ctx, actor, id);
}

/** The plan the policy gives this request now, or an AppError saying why it refuses it. */
async function planUnderPolicy(
  ctx: AppContext,
  actor: Actor,
  input: RequestInput,
  resources: Resource[],
  actions: string[],
  fields: Record<string, string>,
  now: Date,
  extendsGrant: { id: string; startsAt: Date; endsAt: Date; extensions: number } | undefined,
): Promise<{ plan: Plan; duration: number }> {
  const ev = evaluateRequest(ctx.config.policy, actor, resources, actions, { breakGlass: input.breakGlass === true, onCall: onCallNow(ctx) });
  if (!ev.eligible) throw new AppError('permission_denied', ev.reason);
  // An extension keeps its grant's binding; a new request under require_artifact must name its build.
  if (ev.plan.requireArtifact && input.artifact === undefined && !extendsGrant) {
    throw badInput(`artifact: rule ${ev.plan.requireArtifact.join(', ')} requires the request to be bound to one build (a commit id or image digest)`, { field: 'artifact' });
  }
  const wrongBuild = workloadArtifactProblem(actor, input.artifact);
  if (wrongBuild) throw new AppError('permission_denied', wrongBuild);
  const duration = durationSeconds(input.duration, ev.plan);
  const ticketWrong = ticketProblem(ev.plan, input.ticket);
  if (ticketWrong) throw badInput(`ticket: ${ticketWrong}`, { field: 'ticket' });
  const fieldsWrong = fieldsProblem(ev.plan, fields);
  if (fieldsWrong) throw badInput(`fields: ${fieldsWrong}`, { field: 'fields' });
  if (extendsGrant) checkExtension(ev.plan, extendsGrant, duration, now);
  // Automatic rules and conditional stages (e.g. "outside work hours, also the on-call lead") are decided now, once.
  const plan = decideAtFiling(ctx.config.policy, ev.plan, requestVars(ctx, { who: actor, resources, actions, durationSeconds: duration, ticket: input.ticket, reason: input.reason, fields }, now));
  if (!plan.auto && plan.automatic?.decision !== 'deny') {
    // A request nobody could ever approve is refused now rather than left to expire.
    const problem = chainProblem(plan.stages, await activeIdentities(ctx, ctx.db), actor.name);
    if (problem) throw new AppError('failed_precondition', `nobody could approve this request: ${problem}; ask an Ajar admin to fix the policy (ajar policy explain shows the chain)`);
  }
  return { plan, duration };
}

/** A refused request, as asked, in the audit log (request.refused). */
async function auditRefusal(ctx: AppContext, actor: Actor, input: RequestInput, resources: Resource[], actions: string[], e: AppError, now: Date, extendsGrant: string | undefined) {
  const canonical = resources.map(canonicalResource);
  await inTransaction(ctx, (tx) =>
    appendAudit(tx, now, [
      {
        type: 'request.refused',
        actor: actor.name,
        subject: actor.name,
        resource: canonical.join(' '),
        action: actions.join(' '),
        grantId: extendsGrant ?? null,
        reason: input.reason.trim(),
        outcome: 'deny',
        details: {
          refusal: e.message,
          resources: canonical,
          actions,
          duration: input.duration ?? null,
          ticket: input.ticket ?? null,
          fields: input.fields ?? {},
          breakGlass: input.breakGlass === true,
          policyVersion: ctx.policyVersion,
        },
      },
    ]),
  ).catch((err) => ctx.log.error({ err: String(err) }, 'could not audit a refused request'));
}

const fmtd = (s: number) => formatDuration(s);

/** "How often and how far": the policy's extension limits, checked before asking. */
function checkExtension(plan: Plan, g: { id: string; startsAt: Date; endsAt: Date; extensions: number }, duration: number, now: Date) {
  const lim = plan.extensions ?? { max: null, maxTotalSeconds: null };
  if (lim.max !== null && g.extensions >= lim.max) {
    throw new AppError('failed_precondition', `grant ${g.id} was extended ${g.extensions} time(s); the policy allows ${lim.max}. Request access anew`);
  }
  if (lim.maxTotalSeconds !== null) {
    const end = Math.max(g.endsAt.getTime(), now.getTime() + duration * 1000);
    const total = (end - g.startsAt.getTime()) / 1000;
    if (total > lim.maxTotalSeconds) {
      throw badInput(`duration: the grant would last ${fmtd(total)} in all; the policy allows ${fmtd(lim.maxTotalSeconds)}`, { field: 'duration' });
    }
  }
}

/** What CEL conditions see about a request, at a time, in the policy's time zone. */
export function requestVars(ctx: AppContext, r: FiledRequest, at: Date): ConditionVars {
  return filingVars(ctx.config, r, at);
}

/** Who is on call in a rotation now, on the server's clock. */
export function onCallNow(ctx: AppContext): OnCall {
  return onCallLookup(ctx.config.policy.oncall, ctx.clock.now());
}

async function lockRequest(tx: Transaction<DB>, id: string): Promise<RequestRow> {
  const r = await tx.selectFrom('access_requests').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!r) throw notFound(`request ${id}`);
  return r;
}

/**
 * Mark a locked pending request approved and create its grant (or extend the
 * grant it extends). The grant's window starts now or at the requested start,
 * never at request time.
 */
async function approve(ctx: AppContext, tx: Transaction<DB>, r: RequestRow, by: string, reason: string | null, now: Date): Promise<AuditInput[]> {
  await tx
    .updateTable('access_requests')
    .set({ state: 'approved', decided_at: now, decided_by: by, decision_reason: reason })
    .where('id', '=', r.id)
    .execute();
  const plan = planOf(r);
  const events: AuditInput[] = [
    { type: 'request.approved', actor: by, subject: r.requester, requestId: r.id, reason, resource: list(r.resources), action: list(r.actions), details: { policyVersion: ctx.policyVersion } },
  ];
  if (r.extends_grant_id) {
    const g = await tx.selectFrom('grants').selectAll().where('id', '=', r.extends_grant_id).forUpdate().executeTakeFirst();
    if (!g || !['scheduled', 'active'].includes(g.state) || new Date(g.ends_at) <= now) {
      throw new AppError('failed_precondition', `grant ${r.extends_grant_id} has ended and cannot be extended; request access anew`);
    }
    let newEnd = new Date(Math.max(new Date(g.ends_at).getTime(), now.getTime() + r.duration_seconds * 1000));
    // Approved later than asked: still never past the policy's total.
    const cap = plan.extensions?.maxTotalSeconds;
    if (cap != null) newEnd = new Date(Math.min(newEnd.getTime(), new Date(g.starts_at).getTime() + cap * 1000));
    await tx.updateTable('grants').set({ ends_at: newEnd }).where('id', '=', g.id).execute();
    events.push({
      type: 'grant.extended',
      actor: by,
      subject: g.subject,
      grantId: g.id,
      requestId: r.id,
      resource: list(g.resources),
      action: list(g.actions),
      details: { from: new Date(g.ends_at).toISOString(), to: newEnd.toISOString(), policyVersion: ctx.policyVersion },
    });
    return events;
  }
  const start = r.start_at && new Date(r.start_at) > now ? new Date(r.start_at) : now;
  const end = new Date(start.getTime() + r.duration_seconds * 1000);
  const grantId = newId('grt');
  await tx
    .insertInto('grants')
    .values({
      id: grantId,
      request_id: r.id,
      subject: r.requester,
      resources: JSON.stringify(jsonList(r.resources)),
      actions: JSON.stringify(jsonList(r.actions)),
      starts_at: start,
      ends_at: end,
      max_uses: r.max_uses,
      artifact: r.artifact,
      state: start > now ? 'scheduled' : 'active',
      auto_approved: plan.auto,
      break_glass: plan.breakGlass === true,
      created_at: now,
    })
    .execute();
  const about = { subject: r.requester, grantId, requestId: r.id, resource: list(r.resources), action: list(r.actions), reason: r.reason };
  events.push({
    type: 'grant.created',
    actor: by,
    ...about,
    details: { startsAt: start.toISOString(), endsAt: end.toISOString(), maxUses: r.max_uses, state: start > now ? 'scheduled' : 'active', artifact: r.artifact, policyVersion: ctx.policyVersion },
  });
  if (plan.breakGlass) events.push({ type: 'breakglass.used', actor: r.requester, ...about, details: { endsAt: end.toISOString(), review: 'open' } });
  return events;
}

const jsonList = (v: unknown): string[] => (typeof v === 'string' ? JSON.parse(v) : v) as string[];
const planOf = (r: RequestRow): Plan => storedPlan((typeof r.plan === 'string' ? JSON.parse(r.plan) : r.plan) as Plan);
const list = (v: unknown) => jsonList(v).join(' ');

/** Approvals so far, with the stage each counted for. */
function approvalsOf(ctx: AppContext, rows: { reviewer: string; decision: string; stage: number | null; created_at: Date | string }[]): Review[] {
  const out: Review[] = [];
  for (const r of rows) {
    const who = ctx.config.identities.get(r.reviewer);
    // Approvals recorded before stages existed counted for the first stage.
    if (who && r.decision === 'approve') out.push({ who, stage: r.stage ?? 0, at: new Date(r.created_at) });
  }
  return out;
}

/** Pending requests whose TTL passed are expired when touched, even before the sweeper gets to them. */
async function expireIfDue(tx: Transaction<DB>, r: RequestRow, now: Date): Promise<AuditInput[]> {
  if (r.state !== 'pending' || effectiveRequestState({ state: 'pending', expiresAt: new Date(r.expires_at) }, now) !== 'expired') return [];
  await tx.updateTable('access_requests').set({ state: 'expired', decided_at: now, decided_by: 'ajar', decision_reason: 'no decision before the request expired' }).where('id', '=', r.id).execute();
  r.state = 'expired';
  return [{ type: 'request.expired', actor: 'ajar', subject: r.requester, requestId: r.id, reason: 'no decision before the request expired' }];
}

export async function reviewRequest(
  ctx: AppContext,
  actor: Actor,
  id: string,
  decision: 'approve' | 'deny',
  reason: string | undefined,
  narrow: Narrowing = {},
): Promise<{ request: RequestDto; changed: boolean }> {
  if (decision === 'deny' && (narrow.duration || narrow.actions || narrow.resources)) throw badInput('a denial cannot narrow the request');
  if (decision === 'deny' && (!reason || reason.trim() === '')) throw badInput('reason: say why you deny the request', { field: 'reason' });
  if (reason !== undefined && reason.length > 2000) throw badInput('reason: at most 2000 characters', { field: 'reason' });
  const now = ctx.clock.now();
  const changed = await inTransaction(ctx, async (tx) => {
    const r = await tx.selectFrom('access_requests').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!r || !(canSee(actor, r, onCallNow(ctx)))) throw notFound(`request ${id}`);
    // The requester never approves their own request, admins included.
    if (r.requester === actor.name) throw new AppError('permission_denied', 'you cannot review your own request');
    const mine = await tx.selectFrom('request_reviews').selectAll().where('request_id', '=', id).where('reviewer', '=', actor.name).executeTakeFirst();
    if (mine) {
      if (mine.decision === decision) return false; // a repeated decision is a no-op
      throw new AppError('conflict', `you already ${mine.decision === 'approve' ? 'approved' : 'denied'} this request`);
    }
    const expired = await expireIfDue(tx, r, now);
    if (expired.length > 0) {
      await appendAudit(tx, now, expired);
      return 'expired' as const;
    }
    if (r.state !== 'pending') throw new AppError('conflict', `request ${id} is already ${r.state}`);
    const plan = planOf(r);
    const onCall = onCallNow(ctx);
    if (decision === 'approve') {
      // The policy may have changed since filing: a request it no longer allows (a new block
      // rule, a rule taken away, a requester disabled) is denied by the policy, not approved.
      const gone = await noLongerAllowed(ctx, tx, r, plan, onCall);
      if (gone) {
        const why = `the policy changed since this request was filed: ${gone}`;
        await tx.updateTable('access_requests').set({ state: 'denied', decided_at: now, decided_by: 'policy', decision_reason: why }).where('id', '=', id).execute();
        await appendAudit(tx, now, [
          { type: 'request.denied', actor: 'policy', subject: r.requester, requestId: id, reason: why, resource: list(r.resources), action: list(r.actions), details: { policyVersion: ctx.policyVersion, filedUnder: r.policy_version } },
        ]);
        return { refused: why };
      }
    }
    const before = approvalsOf(ctx, await tx.selectFrom('request_reviews').selectAll().where('request_id', '=', id).execute());
    const filedAt = new Date(r.created_at);
    if (!plan.stages.some((s, i) => canApproveStage(s, actor, onCall, isEscalated(plan.stages, before, i, filedAt, now)))) {
      throw new AppError('permission_denied', `you are not an approver of this request (${describeStages(plan.stages)})`);
    }
    let stage: number | null = null;
    if (decision === 'approve') {
      // Stages approve in order; any approver of any stage may veto with a deny.
      const s = stageFor(plan.stages, before, actor, onCall, { filedAt, now });
      if ('problem' in s) throw new AppError('permission_denied', s.problem);
      stage = s.stage;
    }
    await tx.insertInto('request_reviews').values({ request_id: id, reviewer: actor.name, decision, stage, reason: reason?.trim() || null, created_at: now }).execute();
    const events: AuditInput[] = [];
    const narrowed = decision === 'approve' ? narrowRequest(r, narrow) : undefined;
    if (narrowed) {
      await tx
        .updateTable('access_requests')
        .set({ duration_seconds: narrowed.durationSeconds, actions: JSON.stringify(narrowed.actions), resources: JSON.stringify(narrowed.resources) })
        .where('id', '=', id)
        .execute();
      events.push({
        type: 'request.narrowed',
        actor: actor.name,
        subject: r.requester,
        requestId: id,
        resource: narrowed.resources.join(' '),
        action: narrowed.actions.join(' '),
        details: { from: { durationSeconds: r.duration_seconds, actions: jsonList(r.actions), resources: jsonList(r.resources) }, to: narrowed },
      });
      r.duration_seconds = narrowed.durationSeconds;
      r.actions = narrowed.actions;
      r.resources = narrowed.resources;
    }
    if (decision === 'deny') {
      await tx.updateTable('access_requests').set({ state: 'denied', decided_at: now, decided_by: actor.name, decision_reason: reason!.trim() }).where('id', '=', id).execute();
      events.push({ type: 'request.denied', actor: actor.name, subject: r.requester, requestId: id, reason: reason!.trim(), resource: list(r.resources), action: list(r.actions), details: { policyVersion: ctx.policyVersion } });
    } else {
      const approvals = [...before, { who: actor, stage: stage!, at: now }];
      events.push({ type: 'request.reviewed', actor: actor.name, subject: r.requester, requestId: id, outcome: 'approve', reason: reason?.trim() || null, details: { stage: stage! + 1, of: plan.stages.length, policyVersion: ctx.policyVersion } });
      if (isFullyApproved(plan.stages, approvals)) events.push(...(await approve(ctx, tx, r, actor.name, reason?.trim() || null, now)));
      else if (currentStage(plan.stages, approvals) !== currentStage(plan.stages, before)) {
        // The next stage starts now: set its escalation timer and its reminders (see sweep.ts).
        await tx
          .updateTable('access_requests')
          .set({ escalates_at: nextEscalation(plan.stages, approvals, filedAt)?.at ?? null, remind_at: nextReminder(plan.stages, approvals, filedAt, now)?.at ?? null })
          .where('id', '=', id)
          .execute();
      }
    }
    await appendAudit(tx, now, events);
    return true;
  });
  if (changed === 'expired') throw new AppError('conflict', `request ${id} expired before it was decided`);
  if (typeof changed === 'object') throw new AppError('failed_precondition', `request ${id} was denied: ${changed.refused}`);
  return { request: await getRequest(ctx, actor, id), changed };
}

/** Why the running policy would not let this pending request be filed now, or undefined if it would. */
async function noLongerAllowed(ctx: AppContext, tx: Transaction<DB>, r: RequestRow, plan: Plan, onCall: OnCall): Promise<string | undefined> {
  const who = await activeIdentity(ctx, tx, r.requester);
  if (!who) return `${r.requester} is no longer an active identity`;
  const resources: Resource[] = [];
  for (const text of jsonList(r.resources)) {
    const p = parseResource(text);
    if (!p.ok) return `resource ${text}: ${p.error}`;
    resources.push(p.value);
  }
  const ev = evaluateRequest(ctx.config.policy, who, resources, jsonList(r.actions), { breakGlass: plan.breakGlass === true, onCall });
  return ev.eligible ? undefined : ev.reason;
}

export interface Narrowing {
  duration?: string | undefined;
  actions?: string[] | undefined;
  resources?: string[] | undefined;
}

/**
 * An approver may narrow a request — shorter, fewer actions, fewer or narrower
 * resources — but never widen it. Returns the narrowed request, or undefined
 * when nothing changes.
 */
function narrowRequest(r: RequestRow, n: Narrowing): { durationSeconds: number; actions: string[]; resources: string[] } | undefined {
  if (!n.duration && !n.actions && !n.resources) return undefined;
  const asked = { durationSeconds: r.duration_seconds, actions: jsonList(r.actions), resources: jsonList(r.resources) };
  let durationSeconds = asked.durationSeconds;
  if (n.duration) {
    const d = parseDuration(n.duration);
    if (!d.ok) throw badInput(`duration: ${d.error}`, { field: 'duration' });
    if (d.value > asked.durationSeconds) throw badInput(`duration: an approver may shorten the request (${formatDuration(asked.durationSeconds)}), never lengthen it`, { field: 'duration' });
    durationSeconds = d.value;
  }
  const actions = n.actions ? [...new Set(n.actions)] : asked.actions;
  const extra = actions.filter((a) => !asked.actions.includes(a));
  if (actions.length === 0 || extra.length) throw badInput(`actions: an approver may keep some of ${asked.actions.join(', ')}, never add ${extra.join(', ') || 'nothing'}`, { field: 'actions' });
  let resources = asked.resources;
  if (n.resources) {
    const requested = asked.resources.map((t) => parseResource(t)).flatMap((p) => (p.ok ? [p.value] : []));
    resources = [];
    for (const t of n.resources) {
      const p = parseResource(t);
      if (!p.ok) throw badInput(`resources: ${p.error}`, { field: 'resources' });
      if (!requested.some((q) => resourceCovers(q, p.value))) throw badInput(`resources: "${t}" is not inside what was requested (${asked.resources.join(', ')})`, { field: 'resources' });
      resources.push(canonicalResource(p.value));
    }
    if (resources.length === 0) throw badInput('resources: keep at least one', { field: 'resources' });
  }
  return { durationSeconds, actions, resources };
}

export function describeStages(stages: ApprovalStage[]): string {
  return stages.map(describeStage).join('; then ');
}

export async function cancelRequest(ctx: AppContext, actor: Actor, id: string): Promise<RequestDto> {
  const now = ctx.clock.now();
  await inTransaction(ctx, async (tx) => {
    const r = await tx.selectFrom('access_requests').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!r || !(canSee(actor, r, onCallNow(ctx)))) throw notFound(`request ${id}`);
    if (r.requester !== actor.name && !actor.admin) throw new AppError('permission_denied', 'only the requester or an admin can cancel a request');
    if (r.state === 'cancelled') return;
    const expired = await expireIfDue(tx, r, now);
    if (expired.length > 0) return appendAudit(tx, now, expired);
    if (r.state !== 'pending') throw new AppError('conflict', `request ${id} is already ${r.state}`);
    await tx.updateTable('access_requests').set({ state: 'cancelled', decided_at: now, decided_by: actor.name, decision_reason: 'cancelled' }).where('id', '=', id).execute();
    await appendAudit(tx, now, [{ type: 'request.cancelled', actor: actor.name, subject: r.requester, requestId: id }]);
  });
  return getRequest(ctx, actor, id);
}

/** Who may see a request: its requester, the people who may review it, and admins. */
function canSee(actor: Actor, r: RequestRow, onCall: OnCall): boolean {
  if (actor.admin || r.requester === actor.name) return true;
  const plan = planOf(r);
  // Escalation tiers may see the requests they could come to decide.
  return plan.stages.some((s) => canApproveStage(s, actor, onCall, true));
}

async function toDto(ctx: AppContext, db: Kysely<DB>, rows: RequestRow[]): Promise<RequestDto[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const reviews = await db.selectFrom('request_reviews').selectAll().where('request_id', 'in', ids).orderBy('created_at').execute();
  const grants = await db.selectFrom('grants').select(['id', 'request_id']).where('request_id', 'in', ids).execute();
  const now = ctx.clock.now();
  return rows.map((r) => {
    const mine = reviews.filter((v) => v.request_id === r.id);
    const plan = planOf(r);
    const have = approvalProgress(plan.stages, approvalsOf(ctx, mine)).map((p) => p.have);
    return requestDto(r, mine, grants.find((g) => g.request_id === r.id)?.id ?? null, now, have);
  });
}

export async function getRequest(ctx: AppContext, actor: Actor, id: string): Promise<RequestDto> {
  const r = await ctx.db.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r || !(canSee(actor, r, onCallNow(ctx)))) throw notFound(`request ${id}`);
  return (await toDto(ctx, ctx.db, [r]))[0]!;
}

export interface RequestFilter {
  state?: RequestState | undefined;
  requester?: string | undefined;
  /** only requests the actor may review and has not reviewed */
  toReview?: boolean | undefined;
  limit?: number | undefined;
}

export async function listRequests(ctx: AppContext, actor: Actor, f: RequestFilter): Promise<RequestDto[]> {
  const now = ctx.clock.now();
  let q = ctx.db.selectFrom('access_requests').selectAll().orderBy('created_at', 'desc').limit(Math.min(f.limit ?? 100, 1000));
  if (f.state === 'pending') q = q.where('state', '=', 'pending').where('expires_at', '>', now);
  else if (f.state === 'expired') q = q.where((eb) => eb.or([eb('state', '=', 'expired'), eb.and([eb('state', '=', 'pending'), eb('expires_at', '<=', now)])]));
  else if (f.state) q = q.where('state', '=', f.state);
  if (f.requester) q = q.where('requester', '=', f.requester);
  if (f.toReview) q = q.where('requester', '<>', actor.name).where('state', '=', 'pending').where('expires_at', '>', now);
  else if (!actor.admin && !f.toReview) q = q.where('requester', '=', actor.name);
  let rows = await q.execute();
  if (f.toReview) {
    // The requests this person may decide now: their stage is current (or escalated to them).
    const onCall = onCallNow(ctx);
    const all = rows.length ? await ctx.db.selectFrom('request_reviews').selectAll().where('request_id', 'in', rows.map((r) => r.id)).execute() : [];
    rows = rows.filter((r) => {
      const mine = all.filter((v) => v.request_id === r.id);
      if (mine.some((v) => v.reviewer === actor.name)) return false;
      const plan = planOf(r);
      const before = approvalsOf(ctx, mine);
      const filedAt = new Date(r.created_at);
      return plan.stages.some((s, i) => canApproveStage(s, actor, onCall, isEscalated(plan.stages, before, i, filedAt, now)));
    });
  }
  return toDto(ctx, ctx.db, rows);
}

export { approvalsOf, expireIfDue, jsonList, planOf };

// Grants: list them, end them early (revoke, release), extend them, and the
// one access decision every enforcement point asks for.
import type { Transaction } from 'kysely';
import { artifactProblem } from '../domain/artifact.js';
import { decide, type Decision, requestCommand } from '../domain/decide.js';
import { AppError, badInput, notFound } from '../domain/errors.js';
import { effectiveGrantState, type GrantState } from '../domain/grant.js';
import { canonicalResource, parseResource, type Resource, resourceOverlaps, validateAction } from '../domain/resource.js';
import type { DB } from '../store/schema.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type Actor, type AppContext, activeIdentity, inTransaction, requireAdmin } from './context.js';
import { createRequest, jsonList } from './requests.js';
import { workloadArtifactProblem } from './workloads.js';
import { type GrantDto, type GrantRow, grantDto, grantView } from './views.js';

export const OPEN: GrantState[] = ['scheduled', 'active'];

export interface GrantFilter {
  subject?: string | undefined;
  state?: GrantState | undefined;
  resource?: string | undefined;
  limit?: number | undefined;
}

export async function listGrants(ctx: AppContext, actor: Actor, f: GrantFilter): Promise<GrantDto[]> {
  const now = ctx.clock.now();
  let q = ctx.db.selectFrom('grants').selectAll().orderBy('created_at', 'desc').limit(Math.min(f.limit ?? 100, 1000));
  const subject = actor.admin ? f.subject : actor.name;
  if (!actor.admin && f.subject && f.subject !== actor.name) return [];
  if (subject) q = q.where('subject', '=', subject);
  // Stored state can lag behind the clock; filter on what the grant is now.
  if (f.state === 'active' || f.state === 'scheduled') q = q.where('state', 'in', OPEN).where('ends_at', '>', now);
  else if (f.state === 'expired') q = q.where((eb) => eb.or([eb('state', '=', 'expired'), eb.and([eb('state', 'in', OPEN), eb('ends_at', '<=', now)])]));
  else if (f.state) q = q.where('state', '=', f.state);
  const rows = await q.execute();
  let out = rows.map((r) => grantDto(r, now));
  if (f.state) out = out.filter((g) => g.state === f.state);
  if (f.resource) {
    const p = parseResource(f.resource);
    if (!p.ok) throw badInput(`resource: ${p.error}`, { field: 'resource' });
    out = out.filter((g) => g.resources.some((r) => {
      const gr = parseResource(r);
      return gr.ok && resourceOverlaps(gr.value, p.value);
    }));
  }
  return out;
}

export async function getGrant(ctx: AppContext, actor: Actor, id: string): Promise<GrantDto & { reason: string; ticket: string | null }> {
  const g = await ctx.db
    .selectFrom('grants')
    .innerJoin('access_requests', 'access_requests.id', 'grants.request_id')
    .selectAll('grants')
    .select(['access_requests.reason', 'access_requests.ticket'])
    .where('grants.id', '=', id)
    .executeTakeFirst();
  if (!g || (!actor.admin && g.subject !== actor.name)) throw notFound(`grant ${id}`);
  return { ...grantDto(g, ctx.clock.now()), reason: g.reason, ticket: g.ticket };
}

/** End open grants now. Rows must already be locked by the caller's transaction. */
export async function endGrants(tx: Transaction<DB>, rows: GrantRow[], state: 'revoked' | 'released', by: string, reason: string, now: Date): Promise<AuditInput[]> {
  const events: AuditInput[] = [];
  for (const g of rows) {
    const current = effectiveGrantState(grantView(g), now);
    if (!OPEN.includes(current)) continue;
    await tx.updateTable('grants').set({ state, ended_at: now, ended_by: by, end_reason: reason }).where('id', '=', g.id).execute();
    events.push({
      type: `grant.${state}`,
      actor: by,
      subject: g.subject,
      grantId: g.id,
      requestId: g.request_id,
      resource: jsonList(g.resources).join(' '),
      action: jsonList(g.actions).join(' '),
      reason,
    });
  }
  return events;
}

async function endOne(ctx: AppContext, actor: Actor, id: string, state: 'revoked' | 'released', reason: string): Promise<GrantDto> {
  const now = ctx.clock.now();
  await inTransaction(ctx, async (tx) => {
    const g = await tx.selectFrom('grants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!g || (!actor.admin && g.subject !== actor.name)) throw notFound(`grant ${id}`);
    if (state === 'released' && g.subject !== actor.name) throw new AppError('permission_denied', 'only the holder releases a grant; admins revoke it');
    const current = effectiveGrantState(grantView(g), now);
    if (current === state) return; // repeating it changes nothing
    if (!OPEN.includes(current)) throw new AppError('conflict', `grant ${id} has already ended (${current})`);
    await appendAudit(tx, now, await endGrants(tx, [g], state, actor.name, reason, now));
  });
  return getGrant(ctx, actor, id);
}

export function revokeGrant(ctx: AppContext, actor: Actor, id: string, reason: string | undefined): Promise<GrantDto> {
  requireAdmin(actor);
  return endOne(ctx, actor, id, 'revoked', reason?.trim() || 'revoked by an admin');
}

export function releaseGrant(ctx: AppContext, actor: Actor, id: string): Promise<GrantDto> {
  return endOne(ctx, actor, id, 'released', 'released by its holder');
}

/** Incident response: end every open grant that touches the pattern. */
export async function revokeByResource(ctx: AppContext, actor: Actor, pattern: string, reason: string | undefined): Promise<GrantDto[]> {
  requireAdmin(actor);
  const p = parseResource(pattern);
  if (!p.ok) throw badInput(`resource: ${p.error}`, { field: 'resource' });
  const now = ctx.clock.now();
  const ids = await inTransaction(ctx, async (tx) => {
    const rows = await tx.selectFrom('grants').selectAll().where('state', 'in', OPEN).where('ends_at', '>', now).orderBy('id').forUpdate().execute();
    const hit = rows.filter((g) =>
      jsonList(g.resources).some((r) => {
        const gr = parseResource(r);
        return !gr.ok || resourceOverlaps(gr.value, p.value);
      }),
    );
    const why = reason?.trim() || `all grants on ${pattern} revoked`;
    const events = await endGrants(tx, hit, 'revoked', actor.name, why, now);
    events.push({ type: 'admin.revoke_by_resource', actor: actor.name, resource: pattern, reason: why, details: { grants: hit.map((g) => g.id) } });
    await appendAudit(tx, now, events);
    return hit.map((g) => g.id);
  });
  if (ids.length === 0) return [];
  const rows = await ctx.db.selectFrom('grants').selectAll().where('id', 'in', ids).execute();
  return rows.map((r) => grantDto(r, now));
}

/** Ends every open grant of a subject, in the caller's transaction (offboarding). */
export async function revokeAllOf(tx: Transaction<DB>, subject: string, by: string, reason: string, now: Date): Promise<AuditInput[]> {
  const rows = await tx.selectFrom('grants').selectAll().where('subject', '=', subject).where('state', 'in', OPEN).orderBy('id').forUpdate().execute();
  return endGrants(tx, rows, 'revoked', by, reason, now);
}

/** Extending asks again through the policy: it files a request bound to the grant. */
export async function extendGrant(ctx: AppContext, actor: Actor, id: string, input: { duration?: string; reason: string }) {
  const g = await ctx.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
  if (!g || g.subject !== actor.name) throw notFound(`grant ${id}`);
  const state = effectiveGrantState(grantView(g), ctx.clock.now());
  if (!OPEN.includes(state)) throw new AppError('conflict', `grant ${id} has already ended (${state}); request access anew`);
  const done = await ctx.db.selectFrom('access_requests').select('id').where('extends_grant_id', '=', id).where('state', '=', 'approved').execute();
  return createRequest(
    ctx,
    actor,
    { resources: jsonList(g.resources), actions: jsonList(g.actions), duration: input.duration, reason: input.reason },
    { id, startsAt: new Date(g.starts_at), endsAt: new Date(g.ends_at), extensions: done.length },
  );
}

export interface CheckInput {
  subject: string;
  action: string;
  resource: string;
  /** count one use of a use-bound grant when allowed */
  consume?: boolean | undefined;
  /** the commit or image digest about to be used (deploys) */
  artifact?: string | undefined;
  /** the pipeline asking (run URL, commit, actor), for the audit log */
  context?: Record<string, string> | undefined;
}

export type CheckResult = Decision & { subject: string; action: string; resource: string; at: string };

/**
 * The decision, audited. Unknown resources and unknown or disabled subjects get
 * the same answer as a missing grant, so a denial says nothing about what exists.
 */
export async function check(ctx: AppContext, actor: Actor, input: CheckInput): Promise<CheckResult> {
  if (input.subject !== actor.name && !actor.admin) throw new AppError('permission_denied', 'you may check your own access; checking others needs an admin');
  const p = parseResource(input.resource);
  if (!p.ok) throw badInput(`resource: ${p.error}`, { field: 'resource' });
  if (p.value.name.includes('*') || p.value.scope?.includes('*')) throw badInput('resource: name one concrete resource, not a pattern', { field: 'resource' });
  const v = validateAction(p.value, input.action);
  if (!v.ok) throw badInput(`action: ${v.error}`, { field: 'action' });
  if (input.artifact !== undefined && artifactProblem(input.artifact)) throw badInput(`artifact: ${artifactProblem(input.artifact)}`, { field: 'artifact' });
  const resource = canonicalResource(p.value);
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    const who = await activeIdentity(ctx, tx, input.subject);
    let decision: Decision;
    let requestId: string | null = null;
    const events: AuditInput[] = [];
    const wrongBuild = input.subject === actor.name ? workloadArtifactProblem(actor, input.artifact) : undefined;
    if (!who) {
      decision = { allow: false, reason: `no active grant for ${input.action} on ${resource}`, request: requestCommand(input.action, p.value) };
    } else if (wrongBuild) {
      decision = { allow: false, reason: wrongBuild, request: requestCommand(input.action, p.value) };
    } else {
      let q = tx.selectFrom('grants').selectAll().where('subject', '=', input.subject).where('state', 'in', OPEN).where('ends_at', '>', now);
      if (input.consume) q = q.forUpdate();
      const rows = await q.execute();
      decision = decide(rows.map(grantView), { subject: input.subject, action: input.action, resource: p.value, artifact: input.artifact }, now);
      const d = decision;
      if (d.allow) {
        const g = rows.find((r) => r.id === d.grantId)!;
        requestId = g.request_id;
        if (input.consume && d.usesLeft !== null) {
          events.push(...(await countUse(tx, g, now, resource, input.action)));
          decision = { ...d, usesLeft: d.usesLeft - 1 };
        }
      }
    }
    const details = { ...(input.artifact ? { artifact: input.artifact } : {}), ...(input.context ? { pipeline: input.context } : {}) };
    events.unshift({
      type: 'access.checked',
      actor: actor.name,
      subject: input.subject,
      resource,
      action: input.action,
      grantId: decision.allow ? decision.grantId : null,
      requestId,
      outcome: decision.allow ? 'allow' : 'deny',
      reason: decision.allow ? null : decision.reason,
      details: { ...details, policyVersion: ctx.policyVersion },
    });
    await appendAudit(tx, now, events);
    return { ...decision, subject: input.subject, action: input.action, resource, at: now.toISOString() };
  });
}

/** Break-glass grants with their post-hoc review (admins). */
export async function listBreakGlass(ctx: AppContext, actor: Actor, state: 'open' | 'closed' | 'all'): Promise<GrantDto[]> {
  requireAdmin(actor);
  let q = ctx.db.selectFrom('grants').selectAll().where('break_glass', '=', true).orderBy('created_at', 'desc').limit(1000);
  if (state === 'open') q = q.where('review_closed_at', 'is', null);
  if (state === 'closed') q = q.where('review_closed_at', 'is not', null);
  const now = ctx.clock.now();
  return (await q.execute()).map((g) => grantDto(g, now));
}

/** Close the review of a break-glass use: an admin other than the one who used it. */
export async function closeBreakGlassReview(ctx: AppContext, actor: Actor, id: string, note: string): Promise<GrantDto> {
  requireAdmin(actor);
  if (!note.trim()) throw badInput('note: say what the review found', { field: 'note' });
  const now = ctx.clock.now();
  await inTransaction(ctx, async (tx) => {
    const g = await tx.selectFrom('grants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!g || !g.break_glass) throw notFound(`break-glass grant ${id}`);
    if (g.subject === actor.name) throw new AppError('permission_denied', 'someone other than the person who used break-glass must close its review');
    if (g.review_closed_at) throw new AppError('conflict', `the review of ${id} was closed by ${g.review_closed_by}`);
    await tx.updateTable('grants').set({ review_closed_at: now, review_closed_by: actor.name, review_note: note.trim() }).where('id', '=', id).execute();
    await appendAudit(tx, now, [
      { type: 'breakglass.reviewed', actor: actor.name, subject: g.subject, grantId: id, requestId: g.request_id, reason: note.trim(), resource: jsonList(g.resources).join(' ') },
    ]);
  });
  const g = await ctx.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return grantDto(g, now);
}

/** Count one use of a use-bound grant (its row locked); the last one ends it, audited as grant.consumed. */
async function countUse(tx: Transaction<DB>, g: GrantRow, now: Date, resource: string, action: string): Promise<AuditInput[]> {
  if (g.max_uses === null) return [];
  const uses = g.uses + 1;
  const consumed = uses >= g.max_uses;
  await tx.updateTable('grants').set({ uses, ...(consumed ? { state: 'consumed', ended_at: now, ended_by: 'ajar', end_reason: 'all uses consumed' } : {}) }).where('id', '=', g.id).execute();
  return consumed ? [{ type: 'grant.consumed', actor: 'ajar', subject: g.subject, grantId: g.id, requestId: g.request_id, resource, action, details: { uses } }] : [];
}

/**
 * Inside a transaction: the caller's active grant for ACTION on RESOURCE, its row
 * locked (a revoke waits for the credential being minted, then finds it), or a
 * refusal that says how to ask. With `consume`, one use of a use-bound grant is
 * counted; the events to append with the caller's (grant.consumed on the last use).
 */
export async function requireGrant(
  tx: Transaction<DB>,
  actor: Actor,
  action: string,
  resource: Resource,
  now: Date,
  opts: { consume?: boolean; artifact?: string | undefined } = {},
): Promise<{ grant: GrantRow; events: AuditInput[] }> {
  const wrongBuild = workloadArtifactProblem(actor, opts.artifact);
  if (wrongBuild) throw new AppError('permission_denied', wrongBuild);
  const rows = await tx.selectFrom('grants').selectAll().where('subject', '=', actor.name).where('state', 'in', OPEN).where('ends_at', '>', now).orderBy('id').forUpdate().execute();
  const d = decide(rows.map(grantView), { subject: actor.name, action, resource, artifact: opts.artifact }, now);
  if (!d.allow) throw new AppError('permission_denied', `${d.reason}; ask with: ${requestCommand(action, resource)}`);
  const grant = rows.find((r) => r.id === d.grantId)!;
  return { grant, events: opts.consume ? await countUse(tx, grant, now, canonicalResource(resource), action) : [] };
}

// The background sweep: writes down what the clock already decided (grants that
// started or ended, requests that expired, approval stages that escalated) and
// audits it. Decisions never wait for it: a grant past its end is refused, and an
// escalated stage may be decided by its next tier, whether or not the sweep has run.
// Rows are claimed with SKIP LOCKED, so several processes never do the same work.
import type { Transaction } from 'kysely';
import { formatDuration } from '../domain/duration.js';
import { currentStage, escalationTimes, nextEscalation, nextReminder } from '../policy/policy.js';
import type { DB } from '../store/schema.js';
import { appendAudit, type AuditInput } from './audit-log.js';
import { enforceBlockRules } from './block-rules.js';
import { runEvery } from './periodic.js';
import { takeBackCredentials } from './credential-sweep.js';
import { type AppContext, inTransaction } from './context.js';
import { approvalsOf, jsonList, planOf } from './requests.js';

const BATCH = 200;

export async function sweep(ctx: AppContext): Promise<{ expired: number; activated: number; requestsExpired: number; escalated: number; reminded: number }> {
  const total = { expired: 0, activated: 0, requestsExpired: 0, escalated: 0, reminded: 0 };
  for (;;) {
    const now = ctx.clock.now();
    const n = await inTransaction(ctx, async (tx) => {
      const events: AuditInput[] = [];
      const ended = await tx.selectFrom('grants').selectAll().where('state', 'in', ['scheduled', 'active']).where('ends_at', '<=', now).orderBy('ends_at').limit(BATCH).forUpdate().skipLocked().execute();
      if (ended.length) await tx.updateTable('grants').set({ state: 'expired', ended_at: now, ended_by: 'ajar', end_reason: 'the grant window ended' }).where('id', 'in', ended.map((g) => g.id)).execute();
      for (const g of ended) {
        events.push({ type: 'grant.expired', actor: 'ajar', subject: g.subject, grantId: g.id, requestId: g.request_id, resource: jsonList(g.resources).join(' '), action: jsonList(g.actions).join(' '), details: { endsAt: new Date(g.ends_at).toISOString() } });
      }
      const started = await tx.selectFrom('grants').selectAll().where('state', '=', 'scheduled').where('starts_at', '<=', now).where('ends_at', '>', now).limit(BATCH).forUpdate().skipLocked().execute();
      if (started.length) await tx.updateTable('grants').set({ state: 'active' }).where('id', 'in', started.map((g) => g.id)).execute();
      for (const g of started) {
        events.push({ type: 'grant.activated', actor: 'ajar', subject: g.subject, grantId: g.id, requestId: g.request_id, resource: jsonList(g.resources).join(' '), action: jsonList(g.actions).join(' '), details: { endsAt: new Date(g.ends_at).toISOString() } });
      }
      const stale = await tx.selectFrom('access_requests').select(['id', 'requester']).where('state', '=', 'pending').where('expires_at', '<=', now).limit(BATCH).forUpdate().skipLocked().execute();
      if (stale.length) {
        await tx.updateTable('access_requests').set({ state: 'expired', decided_at: now, decided_by: 'ajar', decision_reason: 'no decision before the request expired' }).where('id', 'in', stale.map((r) => r.id)).execute();
      }
      for (const r of stale) events.push({ type: 'request.expired', actor: 'ajar', subject: r.requester, requestId: r.id, reason: 'no decision before the request expired' });
      const escalations = await announceEscalations(ctx, tx, now);
      events.push(...escalations.events);
      const reminders = await dueReminders(ctx, tx, now);
      events.push(...reminders.events);
      await appendAudit(tx, now, events);
      total.expired += ended.length;
      total.activated += started.length;
      total.requestsExpired += stale.length;
      total.escalated += escalations.events.length;
      total.reminded += reminders.events.length;
      return ended.length + started.length + stale.length + escalations.claimed + reminders.claimed;
    });
    if (n === 0) return total;
  }
}

/**
 * Claim pending requests whose timer column is due (SKIP LOCKED: each is handled
 * by one process), with their approvals so far. An expired request needs nobody.
 */
async function claimDue(ctx: AppContext, tx: Transaction<DB>, timer: 'escalates_at' | 'remind_at', now: Date) {
  const due = await tx
    .selectFrom('access_requests')
    .selectAll()
    .where('state', '=', 'pending')
    .where(timer, '<=', now)
    .where('expires_at', '>', now)
    .orderBy(timer)
    .limit(BATCH)
    .forUpdate()
    .skipLocked()
    .execute();
  const reviews = due.length ? await tx.selectFrom('request_reviews').selectAll().where('request_id', 'in', due.map((r) => r.id)).execute() : [];
  return { due, approvals: (id: string) => approvalsOf(ctx, reviews.filter((v) => v.request_id === id)) };
}

/**
 * Pending requests whose escalation timer (escalates_at) is due: announce each
 * tier of the current stage that has been reached (request.escalated, once per
 * tier) and set the timer to the next tier, if any; the next stage's timer is set
 * when an approval starts it. The timer is only when to look: the stage and its
 * times are recomputed from the stored times under the row lock, and a
 * request_escalations row per (request, stage, tier) makes each announcement
 * exactly once, whichever process and however many restarts.
 */
async function announceEscalations(ctx: AppContext, tx: Transaction<DB>, now: Date): Promise<{ claimed: number; events: AuditInput[] }> {
  const { due, approvals } = await claimDue(ctx, tx, 'escalates_at', now);
  const events: AuditInput[] = [];
  for (const r of due) {
    const plan = planOf(r);
    const reviews = approvals(r.id);
    const filedAt = new Date(r.created_at);
    const stage = currentStage(plan.stages, reviews);
    const tiers = stage < 0 ? [] : escalationTimes(plan.stages, reviews, stage, filedAt);
    await tx.updateTable('access_requests').set({ escalates_at: nextEscalation(plan.stages, reviews, filedAt, now)?.at ?? null }).where('id', '=', r.id).execute();
    for (const t of tiers.filter((x) => x.at.getTime() <= now.getTime())) {
      const announced = await tx
        .insertInto('request_escalations')
        .values({ request_id: r.id, stage, tier: t.tier, due_at: t.at, announced_at: now })
        .onConflict((oc) => oc.columns(['request_id', 'stage', 'tier']).doNothing())
        .returning('request_id')
        .executeTakeFirst();
      if (!announced) continue;
      events.push(
        sweepEvent('request.escalated', r, `no decision on stage ${stage + 1} within ${formatDuration(t.escalation.afterSeconds)}`, {
          stage: stage + 1,
          of: plan.stages.length,
          tier: t.tier + 1,
          tiers: tiers.length,
          rule: plan.stages[stage]!.rule,
          groups: t.escalation.groups,
          users: t.escalation.users,
          afterSeconds: t.escalation.afterSeconds,
          dueAt: t.at.toISOString(),
        }),
      );
      // The tier is notified through the outbox row appendAudit writes for this event.
    }
  }
  return { claimed: due.length, events };
}

/** An event the sweep writes about a pending request, as Ajar. */
function sweepEvent(type: 'request.escalated' | 'request.reminded', r: { id: string; requester: string; resources: unknown; actions: unknown }, reason: string, details: Record<string, unknown>): AuditInput {
  return { type, actor: 'ajar', subject: r.requester, requestId: r.id, resource: jsonList(r.resources).join(' '), action: jsonList(r.actions).join(' '), reason, details };
}

/**
 * Pending requests whose reminder is due (policy remind_every): one
 * request.reminded event (its outbox row reminds the approvers) and the timer
 * moved to the next one after now. Claimed under the row lock, so each reminder
 * is sent once whichever process sweeps; after a downtime, one reminder, not a burst.
 */
async function dueReminders(ctx: AppContext, tx: Transaction<DB>, now: Date): Promise<{ claimed: number; events: AuditInput[] }> {
  const { due, approvals } = await claimDue(ctx, tx, 'remind_at', now);
  const events: AuditInput[] = [];
  for (const r of due) {
    const plan = planOf(r);
    const next = nextReminder(plan.stages, approvals(r.id), new Date(r.created_at), now);
    await tx.updateTable('access_requests').set({ remind_at: next?.at ?? null, reminders: Number(r.reminders) + (next ? 1 : 0) }).where('id', '=', r.id).execute();
    if (!next) continue;
    const pendingFor = formatDuration(Math.round((now.getTime() - new Date(r.created_at).getTime()) / 1000));
    events.push(sweepEvent('request.reminded', r, `no decision on stage ${next.stage + 1} yet`, { stage: next.stage + 1, reminder: Number(r.reminders) + 1, pendingFor, next: next.at.toISOString() }));
  }
  return { claimed: due.length, events };
}

/**
 * Run the sweep now and then every `intervalSeconds`; returns a stop function.
 * Credentials are taken back in the same tick but on their own: a failing
 * escalation or reminder must not keep a revoked grant's role alive, nor the
 * other way round. (Take-back does not wait for grant.expired: it reads the
 * grants' ends itself.)
 */
export function startSweeper(ctx: AppContext, intervalSeconds: number): () => Promise<void> {
  return runEvery(intervalSeconds, async () => {
    // Block rules of a new policy end the grants they cover (once per policy version, retried until done).
    await enforceBlockRules(ctx).catch((e) => ctx.log.error({ err: String(e) }, 'could not revoke the grants a block rule covers; will retry'));
    const [grants, credentials] = await Promise.allSettled([sweep(ctx), takeBackCredentials(ctx)]);
    if (grants.status === 'rejected') ctx.log.error({ err: String(grants.reason) }, 'sweep failed; will retry');
    if (credentials.status === 'rejected') ctx.log.error({ err: String(credentials.reason) }, 'taking back credentials failed; will retry');
    const r = grants.status === 'fulfilled' ? grants.value : undefined;
    const c = credentials.status === 'fulfilled' ? credentials.value : { revoked: 0, extended: 0 };
    if ((r && (r.expired || r.activated || r.requestsExpired || r.escalated || r.reminded)) || c.revoked || c.extended) {
      ctx.log.info({ ...r, credentialsRevoked: c.revoked, credentialsExtended: c.extended }, 'sweep');
    }
  });
}

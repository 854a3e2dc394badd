// The background sweep: writes down what the clock already decided (grants that
// started or ended, requests that expired) and audits it. Decisions never wait
// for it: a grant past its end is refused whether or not the sweep has run.
// Rows are claimed with SKIP LOCKED, so several processes never do the same work.
import { appendAudit, type AuditInput } from './audit-log.js';
import { type AppContext, inTransaction } from './context.js';
import { jsonList } from './requests.js';

const BATCH = 200;

export async function sweep(ctx: AppContext): Promise<{ expired: number; activated: number; requestsExpired: number }> {
  const total = { expired: 0, activated: 0, requestsExpired: 0 };
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
      for (const g of started) events.push({ type: 'grant.activated', actor: 'ajar', subject: g.subject, grantId: g.id, requestId: g.request_id, resource: jsonList(g.resources).join(' ') });
      const stale = await tx.selectFrom('access_requests').select(['id', 'requester']).where('state', '=', 'pending').where('expires_at', '<=', now).limit(BATCH).forUpdate().skipLocked().execute();
      if (stale.length) {
        await tx.updateTable('access_requests').set({ state: 'expired', decided_at: now, decided_by: 'ajar', decision_reason: 'no decision before the request expired' }).where('id', 'in', stale.map((r) => r.id)).execute();
      }
      for (const r of stale) events.push({ type: 'request.expired', actor: 'ajar', subject: r.requester, requestId: r.id, reason: 'no decision before the request expired' });
      await appendAudit(tx, now, events);
      total.expired += ended.length;
      total.activated += started.length;
      total.requestsExpired += stale.length;
      return ended.length + started.length + stale.length;
    });
    if (n === 0) return total;
  }
}

/** Run the sweep now and then every `intervalSeconds`; returns a stop function. */
export function startSweeper(ctx: AppContext, intervalSeconds: number): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    running = sweep(ctx)
      .then((r) => {
        if (r.expired || r.activated || r.requestsExpired) ctx.log.info(r, 'sweep');
      })
      .catch((e) => ctx.log.error({ err: String(e) }, 'sweep failed; will retry'));
  };
  tick();
  const timer = setInterval(tick, intervalSeconds * 1000);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

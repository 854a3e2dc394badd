// The outbox worker. Two steps, each safe with several Ajar processes:
//  1. fan-out: outbox rows (written with the change, see appendAudit) become
//     deliveries, one per channel and recipient, in one transaction;
//  2. delivery: due deliveries are claimed (SKIP LOCKED, with a lease), sent
//     with no transaction open, and the outcome is written back: delivered, or
//     retried with backoff, or dead (a permanent error, or too many attempts).
// A process that dies while sending leaves a lease that runs out; another
// process then sends again, so delivery is at least once (webhook receivers
// deduplicate on webhook-id, which stays the same across attempts).
import { type Selectable, sql, type Transaction } from 'kysely';
import { type Actor, type AppContext, inTransaction, newId, requireAdmin } from '../app/context.js';
import { rowToEvent } from '../app/audit-log.js';
import { runEvery } from '../app/periodic.js';
import { AppError } from '../domain/errors.js';
import type { DB, DeliveryTable } from '../store/schema.js';
import { DeliveryError } from './delivery-error.js';
import { planDeliveries } from './fan-out.js';

export { DeliveryError };

export interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  channel: string;
  target: string;
  payload: any;
  attempts: number;
}

/** Sends one delivery; may return a step to run in the transaction that marks it delivered. */
export type Sender = (ctx: AppContext, d: Delivery) => Promise<void | ((tx: Transaction<DB>) => Promise<void>)>;
export type Senders = Record<string, Sender>;

const LEASE_SECONDS = 120;
const BATCH = 50;

export function backoffSeconds(attempt: number): number {
  return Math.min(3600, 10 * 2 ** Math.max(0, attempt - 1));
}

export async function fanOut(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    const rows = await tx.selectFrom('outbox').selectAll().where('fanned_out_at', 'is', null).orderBy('created_at').limit(BATCH).forUpdate().skipLocked().execute();
    if (rows.length === 0) return 0;
    const events = await tx.selectFrom('audit_events').selectAll().where('id', 'in', rows.map((r) => r.event_id)).execute();
    for (const raw of events) {
      const e = rowToEvent(raw);
      const planned = await planDeliveries(ctx, tx, e, now);
      if (planned.length) {
        await tx
          .insertInto('deliveries')
          .values(
            planned.map((p) => ({
              id: newId('dlv'),
              event_id: e.id,
              event_type: e.type,
              channel: p.channel,
              target: p.target,
              payload: JSON.stringify(p.payload),
              state: 'pending' as const,
              next_attempt_at: now,
              created_at: now,
            })),
          )
          .onConflict((oc) => oc.columns(['event_id', 'channel', 'target']).doNothing())
          .execute();
      }
    }
    await tx.updateTable('outbox').set({ fanned_out_at: now }).where('event_id', 'in', rows.map((r) => r.event_id)).execute();
    return rows.length;
  });
}

async function claim(ctx: AppContext, now: Date): Promise<Delivery[]> {
  return inTransaction(ctx, async (tx) => {
    const rows = await tx
      .selectFrom('deliveries')
      .selectAll()
      .where((eb) => eb.or([eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', now)]), eb.and([eb('state', '=', 'sending'), eb('lease_until', '<=', now)])]))
      .orderBy('next_attempt_at')
      .limit(BATCH)
      .forUpdate()
      .skipLocked()
      .execute();
    if (rows.length === 0) return [];
    await tx
      .updateTable('deliveries')
      .set({ state: 'sending', lease_until: new Date(now.getTime() + LEASE_SECONDS * 1000), attempts: sql`attempts + 1` })
      .where('id', 'in', rows.map((r) => r.id))
      .execute();
    return rows.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      eventType: r.event_type,
      channel: r.channel,
      target: r.target,
      payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
      attempts: Number(r.attempts) + 1,
    }));
  });
}

async function deliverOne(ctx: AppContext, senders: Senders, d: Delivery): Promise<'delivered' | 'retry' | 'dead'> {
  const send = senders[d.channel.split(':')[0]!];
  let after: void | ((tx: Transaction<DB>) => Promise<void>);
  let failure: DeliveryError | undefined;
  try {
    if (!send) throw new DeliveryError(`${d.channel} is no longer configured`, true);
    after = await send(ctx, d);
  } catch (e) {
    failure = e instanceof DeliveryError ? e : new DeliveryError(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
  }
  const now = ctx.clock.now();
  if (!failure) {
    await inTransaction(ctx, async (tx) => {
      await tx.updateTable('deliveries').set({ state: 'delivered', delivered_at: now, lease_until: null, last_error: null }).where('id', '=', d.id).execute();
      if (after) await after(tx);
    });
    return 'delivered';
  }
  const dead = failure.permanent || d.attempts >= ctx.config.notify.maxAttempts;
  const wait = Math.max(backoffSeconds(d.attempts), failure.retryAfterSeconds ?? 0);
  await ctx.db
    .updateTable('deliveries')
    .set({ state: dead ? 'dead' : 'pending', lease_until: null, last_error: failure.message.slice(0, 1000), next_attempt_at: new Date(now.getTime() + wait * 1000) })
    .where('id', '=', d.id)
    .execute();
  ctx.log[dead ? 'error' : 'warn']({ delivery: d.id, channel: d.channel, event: d.eventType, attempt: d.attempts, problem: failure.message }, dead ? 'notification given up (dead letter)' : 'notification failed; will retry');
  return dead ? 'dead' : 'retry';
}

/**
 * Forget what was delivered (and outbox rows fanned out) more than `keepDays` ago,
 * a batch at a time. Dead letters stay until someone retries them; the audit log
 * keeps the events themselves for good.
 */
export async function pruneDelivered(ctx: AppContext, keepDays: number): Promise<number> {
  const before = new Date(ctx.clock.now().getTime() - keepDays * 86_400_000);
  const d = await ctx.db
    .deleteFrom('deliveries')
    .where('id', 'in', (eb) => eb.selectFrom('deliveries').select('id').where('state', '=', 'delivered').where('delivered_at', '<', before).limit(1000))
    .executeTakeFirst();
  const o = await ctx.db
    .deleteFrom('outbox')
    .where('event_id', 'in', (eb) => eb.selectFrom('outbox').select('event_id').where('fanned_out_at', 'is not', null).where('fanned_out_at', '<', before).limit(1000))
    .executeTakeFirst();
  return Number(d.numDeletedRows) + Number(o.numDeletedRows);
}

/** One round: fan out what is new, then send what is due. */
export async function runOutbox(ctx: AppContext, senders: Senders, opts: { prune?: boolean } = {}): Promise<{ fannedOut: number; delivered: number; retried: number; dead: number }> {
  const total = { fannedOut: 0, delivered: 0, retried: 0, dead: 0 };
  for (let n = await fanOut(ctx); n > 0; n = await fanOut(ctx)) total.fannedOut += n;
  if (opts.prune) await pruneDelivered(ctx, ctx.config.notify.keepDeliveredDays);
  for (;;) {
    const due = await claim(ctx, ctx.clock.now());
    if (due.length === 0) break;
    const results = await Promise.all(due.map((d) => deliverOne(ctx, senders, d)));
    for (const r of results) total[r === 'delivered' ? 'delivered' : r === 'retry' ? 'retried' : 'dead'] += 1;
    if (results.every((r) => r !== 'delivered')) break; // nothing moved: wait for the next tick
  }
  return total;
}

/** Run the outbox now and then every `intervalSeconds`; returns a stop function. */
export function startOutboxWorker(ctx: AppContext, senders: Senders, intervalSeconds: number): () => Promise<void> {
  let rounds = 0;
  return runEvery(intervalSeconds, () => {
    // Old deliveries are pruned at start and then about once a minute.
    const prune = rounds++ % Math.max(1, Math.round(60 / intervalSeconds)) === 0;
    return runOutbox(ctx, senders, { prune }).catch((e) => ctx.log.error({ err: String(e) }, 'outbox round failed; will retry'));
  });
}

export interface DeliveryDto {
  id: string;
  event: string;
  eventId: string;
  channel: string;
  target: string;
  state: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** `ajar outbox`: deliveries not yet delivered (or all), newest first. Admins only. */
export async function listDeliveries(ctx: AppContext, actor: Actor, f: { state?: string | undefined; limit?: number | undefined }): Promise<{ undelivered: number; deliveries: DeliveryDto[] }> {
  requireAdmin(actor);
  let q = ctx.db.selectFrom('deliveries').selectAll();
  if (f.state === 'failed') q = q.where('state', 'in', ['pending', 'sending']).where('attempts', '>', 0).where('last_error', 'is not', null);
  else if (f.state && f.state !== 'all') q = q.where('state', '=', f.state as 'pending');
  else if (!f.state) q = q.where('state', '!=', 'delivered');
  const rows = await q.orderBy('created_at', 'desc').orderBy('id').limit(f.limit ?? 100).execute();
  const pendingOutbox = await ctx.db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('fanned_out_at', 'is', null).executeTakeFirstOrThrow();
  return { undelivered: Number(pendingOutbox.n), deliveries: rows.map(deliveryDto) };
}

const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());

function deliveryDto(r: Selectable<DeliveryTable>): DeliveryDto {
  return {
    id: r.id,
    event: r.event_type,
    eventId: r.event_id,
    channel: r.channel,
    target: r.target,
    state: r.state,
    attempts: Number(r.attempts),
    nextAttemptAt: r.state === 'pending' ? iso(r.next_attempt_at) : null,
    lastError: r.last_error,
    createdAt: iso(r.created_at)!,
    deliveredAt: iso(r.delivered_at),
  };
}

/** Send a dead (or waiting) delivery again now. */
export async function retryDelivery(ctx: AppContext, actor: Actor, id: string): Promise<DeliveryDto> {
  requireAdmin(actor);
  const now = ctx.clock.now();
  const n = await ctx.db
    .updateTable('deliveries')
    .set({ state: 'pending', next_attempt_at: now, attempts: 0 })
    .where('id', '=', id)
    .where('state', 'in', ['dead', 'pending'])
    .executeTakeFirst();
  if (Number(n.numUpdatedRows) === 0) {
    const exists = await ctx.db.selectFrom('deliveries').select('state').where('id', '=', id).executeTakeFirst();
    if (!exists) throw new AppError('not_found', `no delivery ${id}`);
    throw new AppError('conflict', `delivery ${id} is ${exists.state}; only dead or waiting deliveries are retried`);
  }
  return deliveryDto(await ctx.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
}

// What admins see of the outbox (`ajar outbox`) and what they can do about it:
// send a dead delivery again, all dead ones of a channel at once (a rotated token,
// an endpoint that was down for an hour), or an event that could not be fanned out.
import type { Selectable } from 'kysely';
import { type Actor, type AppContext, requireAdmin } from '../app/context.js';
import { AppError } from '../domain/errors.js';
import type { DeliveryTable, OutboxTable } from '../store/schema.js';

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

/** An event whose fan-out failed: `retrying` (with backoff) or `failed` (set aside until retried). */
export interface OutboxEventDto {
  eventId: string;
  event: string;
  state: 'retrying' | 'failed';
  attempts: number;
  lastError: string | null;
  createdAt: string;
}

export interface OutboxView {
  /** events not fanned out yet (new, retrying or failed) */
  undelivered: number;
  /** the events among them whose fan-out failed */
  events: OutboxEventDto[];
  deliveries: DeliveryDto[];
}

const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());

/** `ajar outbox`: deliveries not yet delivered (or by state), newest first, and events that could not be fanned out. Admins only. */
export async function listDeliveries(ctx: AppContext, actor: Actor, f: { state?: string | undefined; limit?: number | undefined }): Promise<OutboxView> {
  requireAdmin(actor);
  let q = ctx.db.selectFrom('deliveries').selectAll();
  if (f.state === 'failed') q = q.where('state', 'in', ['pending', 'sending']).where('attempts', '>', 0).where('last_error', 'is not', null);
  else if (f.state && f.state !== 'all') q = q.where('state', '=', f.state as 'pending');
  else if (!f.state) q = q.where('state', '!=', 'delivered');
  const rows = await q.orderBy('created_at', 'desc').orderBy('id').limit(f.limit ?? 100).execute();
  const pending = await ctx.db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('fanned_out_at', 'is', null).executeTakeFirstOrThrow();
  const events = await ctx.db.selectFrom('outbox').selectAll().where('fanned_out_at', 'is', null).where('attempts', '>', 0).orderBy('created_at').limit(100).execute();
  return { undelivered: Number(pending.n), events: events.map(eventDto), deliveries: rows.map(deliveryDto) };
}

function eventDto(r: Selectable<OutboxTable>): OutboxEventDto {
  return { eventId: r.event_id, event: r.event_type, state: r.failed_at ? 'failed' : 'retrying', attempts: Number(r.attempts), lastError: r.last_error, createdAt: iso(r.created_at)! };
}

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

/** Send a dead (or waiting) delivery again now; or fan out again an event whose fan-out failed (an evt_ id). */
export async function retryDelivery(ctx: AppContext, actor: Actor, id: string): Promise<DeliveryDto | OutboxEventDto> {
  requireAdmin(actor);
  if (id.startsWith('evt_')) return retryEvent(ctx, id);
  const n = await ctx.db
    .updateTable('deliveries')
    .set({ state: 'pending', next_attempt_at: ctx.clock.now(), attempts: 0 })
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

async function retryEvent(ctx: AppContext, id: string): Promise<OutboxEventDto> {
  const r = await ctx.db
    .updateTable('outbox')
    .set({ failed_at: null, retry_at: null, attempts: 0 })
    .where('event_id', '=', id)
    .where('fanned_out_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!r) throw new AppError('not_found', `no event ${id} waiting to be fanned out`);
  return eventDto(r);
}

/**
 * Send every dead delivery (of one channel: `slack`, `email`, `jira`, `webhook:NAME`,
 * or `webhook` for all endpoints) again now. Returns how many.
 */
export async function retryDeliveries(ctx: AppContext, actor: Actor, f: { state: 'dead'; channel?: string | undefined }): Promise<{ retried: number }> {
  requireAdmin(actor);
  const r = await ctx.db
    .updateTable('deliveries')
    .set({ state: 'pending', next_attempt_at: ctx.clock.now(), attempts: 0 })
    .where('state', '=', f.state)
    .$if(f.channel !== undefined, (q) => q.where((eb) => eb.or([eb('channel', '=', f.channel!), eb('channel', 'like', `${f.channel!.replace(/[\\%_]/g, '\\$&')}:%`)])))
    .executeTakeFirst();
  return { retried: Number(r.numUpdatedRows) };
}

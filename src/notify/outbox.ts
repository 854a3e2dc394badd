// The outbox worker. Two steps, each safe with several Ajar processes:
//  1. fan-out: outbox rows (written with the change, see appendAudit) become
//     deliveries, one per channel and recipient, each event in its own
//     transaction (one that cannot be fanned out is retried, then set aside);
//  2. delivery: due deliveries are claimed (SKIP LOCKED, with a lease and a claim
//     token), sent with no transaction open by a bounded pool of concurrent sends,
//     and the outcome is written back by the claim's holder only: delivered, or
//     retried with backoff, or dead (a permanent error, or too many attempts).
// A send is cut off well inside its lease, so a lease runs out only when its
// process died; another process then sends again: delivery is at least once
// (webhook receivers deduplicate on webhook-id, the same across attempts).
// Nothing waits behind a slow receiver: fan-out runs every tick whatever is in
// flight, and each channel may hold only a few of the pool's slots.
import { sql, type Transaction } from 'kysely';
import { type AppContext, inTransaction, newId } from '../app/context.js';
import { rowToEvent } from '../app/audit-log.js';
import { runEvery } from '../app/periodic.js';
import type { DB } from '../store/schema.js';
import { DeliveryError } from './delivery-error.js';
import { planDeliveries } from './fan-out.js';
import { withoutUrls } from './http.js';

export { DeliveryError };

export interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  channel: string;
  target: string;
  payload: any;
  attempts: number;
  /** the claim's token: the outcome is written only while it still holds the claim */
  token: string;
  /** aborted when the send's time is up or Ajar stops: pass it to every call the send makes */
  signal: AbortSignal;
}

/**
 * A step run in the transaction that records a successful send. 'again': what
 * was sent is already out of date (the request changed meanwhile), send it once more.
 */
export type AfterSend = (tx: Transaction<DB>) => Promise<void | 'again'>;
export type Sender = (ctx: AppContext, d: Delivery) => Promise<void | AfterSend>;
export type Senders = Record<string, Sender>;

const LEASE_SECONDS = 120;
/** Every send is cut off after this long (wall time), half the lease: a live process never loses its lease mid-send. */
const SEND_BUDGET_MS = 60_000;
/** Sends in flight in one process, and at most this many for one channel (one webhook endpoint, Slack, email, Jira). */
const MAX_IN_FLIGHT = 16;
const MAX_IN_FLIGHT_PER_CHANNEL = 4;
/** On stop, sends in flight get this long to finish before they are cut off (and retried later). */
const STOP_GRACE_MS = 5_000;
/** An event that fails this many fan-outs is set aside as failed (ajar outbox; ajar outbox retry EVENT). */
const FAN_OUT_ATTEMPTS = 5;
const BATCH = 50;

export function backoffSeconds(attempt: number): number {
  return Math.min(3600, 10 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Fan out new outbox rows, each in a transaction of its own; returns how many
 * were fanned out. `skip` collects the events that failed in this round.
 */
export async function fanOut(ctx: AppContext, skip: Set<string>): Promise<number> {
  const now = ctx.clock.now();
  const rows = await ctx.db
    .selectFrom('outbox')
    .select('event_id')
    .where('fanned_out_at', 'is', null)
    .where('failed_at', 'is', null)
    .where((eb) => eb.or([eb('retry_at', 'is', null), eb('retry_at', '<=', now)]))
    .$if(skip.size > 0, (q) => q.where('event_id', 'not in', [...skip]))
    .orderBy('created_at')
    .limit(BATCH)
    .execute();
  let done = 0;
  for (const { event_id: eventId } of rows) {
    try {
      if (await fanOutEvent(ctx, eventId, now)) done += 1;
    } catch (e) {
      skip.add(eventId);
      await fanOutFailed(ctx, eventId, e, now);
    }
  }
  return done;
}

async function fanOutEvent(ctx: AppContext, eventId: string, now: Date): Promise<boolean> {
  return inTransaction(ctx, async (tx) => {
    const mine = await tx.selectFrom('outbox').select('event_id').where('event_id', '=', eventId).where('fanned_out_at', 'is', null).where('failed_at', 'is', null).forUpdate().skipLocked().executeTakeFirst();
    if (!mine) return false; // another process has it, or has done it
    const raw = await tx.selectFrom('audit_events').selectAll().where('id', '=', eventId).executeTakeFirst();
    if (raw) {
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
    await tx.updateTable('outbox').set({ fanned_out_at: now, last_error: null, retry_at: null }).where('event_id', '=', eventId).execute();
    return true;
  });
}

async function fanOutFailed(ctx: AppContext, eventId: string, e: unknown, now: Date): Promise<void> {
  const problem = withoutUrls(e instanceof Error ? e.message : String(e)).slice(0, 1000);
  const row = await ctx.db
    .updateTable('outbox')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: problem }))
    .where('event_id', '=', eventId)
    .returning('attempts')
    .executeTakeFirst();
  const attempts = Number(row?.attempts ?? FAN_OUT_ATTEMPTS);
  const failed = attempts >= FAN_OUT_ATTEMPTS;
  await ctx.db
    .updateTable('outbox')
    .set(failed ? { failed_at: now } : { retry_at: new Date(now.getTime() + backoffSeconds(attempts) * 1000) })
    .where('event_id', '=', eventId)
    .execute();
  ctx.log.error({ event: eventId, attempt: attempts, problem }, failed ? 'an event could not be turned into notifications; set aside (see ajar outbox)' : 'an event could not be turned into notifications; will retry');
}

type Claimed = Omit<Delivery, 'signal'>;

/** Claim due deliveries for `slots` free slots, keeping each channel within its share of the pool. */
async function claim(ctx: AppContext, now: Date, slots: number, busy: Map<string, number>): Promise<Claimed[]> {
  const full = [...busy].filter(([, n]) => n >= MAX_IN_FLIGHT_PER_CHANNEL).map(([c]) => c);
  return inTransaction(ctx, async (tx) => {
    const rows = await tx
      .selectFrom('deliveries')
      .selectAll()
      .where((eb) => eb.or([eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', now)]), eb.and([eb('state', '=', 'sending'), eb('lease_until', '<=', now)])]))
      .$if(full.length > 0, (q) => q.where('channel', 'not in', full))
      .orderBy('next_attempt_at')
      .limit(BATCH)
      .forUpdate()
      .skipLocked()
      .execute();
    const taken = new Map(busy);
    const picked: typeof rows = [];
    for (const r of rows) {
      const n = taken.get(r.channel) ?? 0;
      if (picked.length >= slots) break;
      if (n >= MAX_IN_FLIGHT_PER_CHANNEL) continue;
      taken.set(r.channel, n + 1);
      picked.push(r);
    }
    if (picked.length === 0) return [];
    const token = newId('claim');
    await tx
      .updateTable('deliveries')
      .set({ state: 'sending', lease_until: new Date(now.getTime() + LEASE_SECONDS * 1000), lease_token: token, attempts: sql`attempts + 1` })
      .where('id', 'in', picked.map((r) => r.id))
      .execute();
    return picked.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      eventType: r.event_type,
      channel: r.channel,
      target: r.target,
      payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
      attempts: Number(r.attempts) + 1,
      token,
    }));
  });
}

/** `p`, or a DeliveryError once `signal` aborts: a sender that ignores the signal still frees its slot in time. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, label: string): Promise<T> {
  p.catch(() => {}); // its outcome no longer matters once cut off
  return new Promise<T>((ok, fail) => {
    const cut = () => fail(new DeliveryError(`${label}: cut off (${(signal.reason as Error).message})`));
    if (signal.aborted) return cut();
    signal.addEventListener('abort', cut, { once: true });
    p.then(ok, fail).finally(() => signal.removeEventListener('abort', cut));
  });
}

type Outcome = 'delivered' | 'retry' | 'dead' | 'lost';

async function deliverOne(ctx: AppContext, senders: Senders, c: Claimed, stopping: AbortSignal): Promise<Outcome> {
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(new Error(`no outcome within ${SEND_BUDGET_MS / 1000}s`)), SEND_BUDGET_MS);
  const d: Delivery = { ...c, signal: AbortSignal.any([budget.signal, stopping]) };
  let after: void | AfterSend;
  let failure: DeliveryError | undefined;
  try {
    const send = senders[d.channel.split(':')[0]!];
    if (!send) throw new DeliveryError(`${d.channel} is no longer configured`, true);
    after = await untilAborted(send(ctx, d), d.signal, d.channel);
  } catch (e) {
    // Not ours to word: keep the message (it helps) but never a URL that may hold a secret.
    failure = e instanceof DeliveryError ? e : new DeliveryError(`unexpected error: ${withoutUrls(e instanceof Error ? e.message : String(e))}`);
  } finally {
    clearTimeout(timer);
  }
  const now = ctx.clock.now();
  const held = (tx: Transaction<DB>) => tx.updateTable('deliveries').where('id', '=', d.id).where('state', '=', 'sending').where('lease_token', '=', d.token);
  let outcome: Outcome;
  if (!failure) {
    outcome = await inTransaction(ctx, async (tx) => {
      // What was sent happened, whoever holds the claim now: the step records it either way.
      const again = after ? await after(tx) : undefined;
      const set =
        again === 'again'
          ? { state: 'pending' as const, next_attempt_at: now, lease_until: null, attempts: sql<number>`attempts - 1` }
          : { state: 'delivered' as const, delivered_at: now, lease_until: null, last_error: null };
      const r = await held(tx).set(set).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0 ? (again === 'again' ? 'retry' : 'delivered') : 'lost';
    });
  } else {
    const dead = failure.permanent || d.attempts >= ctx.config.notify.maxAttempts;
    const wait = Math.max(backoffSeconds(d.attempts), failure.retryAfterSeconds ?? 0);
    const r = await inTransaction(ctx, (tx) =>
      held(tx)
        .set({ state: dead ? 'dead' : 'pending', lease_until: null, last_error: failure.message.slice(0, 1000), next_attempt_at: new Date(now.getTime() + wait * 1000) })
        .executeTakeFirst(),
    );
    outcome = Number(r.numUpdatedRows) === 0 ? 'lost' : dead ? 'dead' : 'retry';
    if (outcome !== 'lost') {
      ctx.log[dead ? 'error' : 'warn']({ delivery: d.id, channel: d.channel, event: d.eventType, attempt: d.attempts, problem: failure.message }, dead ? 'notification given up (dead letter)' : 'notification failed; will retry');
    }
  }
  if (outcome === 'lost') ctx.log.warn({ delivery: d.id, channel: d.channel }, 'a delivery outlived its claim; the process that claimed it since records the outcome');
  return outcome;
}

/**
 * The sends in flight in one process: claims what is due while slots are free,
 * starts it, and claims again as each send ends, without waiting for the others.
 */
class SendPool {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly perChannel = new Map<string, number>();
  private readonly stopping = new AbortController();
  private stopped = false;
  private filling: Promise<void> | undefined;
  private refill = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly senders: Senders,
  ) {}

  fill(): Promise<void> {
    if (this.filling) {
      this.refill = true;
      return this.filling;
    }
    this.filling = (async () => {
      try {
        do {
          this.refill = false;
          await this.claimAndStart();
        } while (this.refill && !this.stopped);
      } finally {
        this.filling = undefined;
      }
    })();
    return this.filling;
  }

  private async claimAndStart(): Promise<void> {
    while (!this.stopped && this.inFlight.size < MAX_IN_FLIGHT) {
      const due = await claim(this.ctx, this.ctx.clock.now(), MAX_IN_FLIGHT - this.inFlight.size, this.perChannel);
      if (due.length === 0) return;
      for (const d of due) this.start(d);
    }
  }

  private start(d: Claimed): void {
    this.perChannel.set(d.channel, (this.perChannel.get(d.channel) ?? 0) + 1);
    const p: Promise<void> = deliverOne(this.ctx, this.senders, d, this.stopping.signal)
      .then(
        () => undefined,
        (e) => this.ctx.log.error({ delivery: d.id, problem: withoutUrls(String(e)) }, 'could not record a delivery outcome; it is sent again when its claim runs out'),
      )
      .finally(() => {
        this.inFlight.delete(p);
        const n = (this.perChannel.get(d.channel) ?? 1) - 1;
        if (n > 0) this.perChannel.set(d.channel, n);
        else this.perChannel.delete(d.channel);
        if (!this.stopped) this.fill().catch((e) => this.ctx.log.error({ problem: withoutUrls(String(e)) }, 'outbox claim failed; will retry'));
      });
    this.inFlight.add(p);
  }

  /** Stop claiming; give the sends in flight a moment, then cut them off (they are retried later). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.filling;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.inFlight), new Promise((ok) => (grace = setTimeout(ok, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    this.stopping.abort(new Error('Ajar is stopping'));
    await Promise.all(this.inFlight);
  }
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

/** Every `intervalSeconds`: fan out what is new and fill the send pool; returns a stop function. */
export function startOutboxWorker(ctx: AppContext, senders: Senders, intervalSeconds: number): () => Promise<void> {
  const pool = new SendPool(ctx, senders);
  let rounds = 0;
  const stopRounds = runEvery(intervalSeconds, async () => {
    // Old deliveries are pruned at start and then about once a minute.
    const prune = rounds++ % Math.max(1, Math.round(60 / intervalSeconds)) === 0;
    try {
      const skip = new Set<string>();
      while ((await fanOut(ctx, skip)) > 0);
      if (prune) await pruneDelivered(ctx, ctx.config.notify.keepDeliveredDays);
      await pool.fill();
    } catch (e) {
      ctx.log.error({ problem: withoutUrls(String(e)) }, 'outbox round failed; will retry');
    }
  });
  return async () => {
    await stopRounds();
    await pool.stop();
  };
}

// The audit log: append-only and hash-chained. Each event carries the hash of
// the one before it, and the head row holds the last hash, so an edited,
// deleted, reordered or truncated event is found by `verifyAuditChain`.
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { GENESIS_HASH } from '../store/migrations.js';
import { NOTIFIABLE } from '../notify/events.js';
import type { DB } from '../store/schema.js';

export interface AuditInput {
  type: string;
  actor: string;
  subject?: string | null;
  resource?: string | null;
  action?: string | null;
  requestId?: string | null;
  grantId?: string | null;
  outcome?: string | null;
  reason?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  id: string;
  at: string;
  type: string;
  actor: string;
  subject: string | null;
  resource: string | null;
  action: string | null;
  requestId: string | null;
  grantId: string | null;
  outcome: string | null;
  reason: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted, so the same event always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export function eventHash(e: Omit<AuditEvent, 'hash'>): string {
  // Every field but the hash itself, in canonical form: changing any of them breaks the chain.
  return createHash('sha256').update(canonicalJson(e)).digest('hex');
}

/**
 * Append events inside the caller's transaction, with an outbox row for each one
 * that notifies someone (notify/). Call it last in a use case:
 * it locks the chain head, and taking that lock after the rows being changed
 * keeps lock order the same everywhere (no deadlocks).
 */
export async function appendAudit(tx: Transaction<DB>, at: Date, events: AuditInput[]): Promise<AuditEvent[]> {
  if (events.length === 0) return [];
  const head = await tx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
  let seq = Number(head.seq);
  let prev = head.hash;
  const out: AuditEvent[] = [];
  for (const input of events) {
    seq += 1;
    const base = {
      seq,
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      at: at.toISOString(),
      type: input.type,
      actor: input.actor,
      subject: input.subject ?? null,
      resource: input.resource ?? null,
      action: input.action ?? null,
      requestId: input.requestId ?? null,
      grantId: input.grantId ?? null,
      outcome: input.outcome ?? null,
      reason: input.reason ?? null,
      details: input.details ?? {},
      prevHash: prev,
    };
    const e: AuditEvent = { ...base, hash: eventHash(base) };
    out.push(e);
    prev = e.hash;
  }
  await tx
    .insertInto('audit_events')
    .values(
      out.map((e) => ({
        seq: e.seq,
        id: e.id,
        at: e.at,
        type: e.type,
        actor: e.actor,
        subject: e.subject,
        resource: e.resource,
        action: e.action,
        request_id: e.requestId,
        grant_id: e.grantId,
        outcome: e.outcome,
        reason: e.reason,
        details: JSON.stringify(e.details),
        prev_hash: e.prevHash,
        hash: e.hash,
      })),
    )
    .execute();
  await tx.updateTable('audit_head').set({ seq, hash: prev }).where('id', '=', 1).execute();
  // The outbox: what must be told, committed or lost together with the change itself.
  const notify = out.filter((e) => NOTIFIABLE.has(e.type));
  if (notify.length) await tx.insertInto('outbox').values(notify.map((e) => ({ event_id: e.id, event_type: e.type, created_at: at }))).execute();
  return out;
}

type Row = DB['audit_events'] extends infer T ? { [K in keyof T]: unknown } : never;

export function rowToEvent(r: Row): AuditEvent {
  return {
    seq: Number(r.seq),
    id: String(r.id),
    at: new Date(r.at as string | Date).toISOString(),
    type: String(r.type),
    actor: String(r.actor),
    subject: (r.subject as string | null) ?? null,
    resource: (r.resource as string | null) ?? null,
    action: (r.action as string | null) ?? null,
    requestId: (r.request_id as string | null) ?? null,
    grantId: (r.grant_id as string | null) ?? null,
    outcome: (r.outcome as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    details: (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as Record<string, unknown>,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

export type ChainVerdict =
  | { ok: true; events: number; headHash: string }
  | { ok: false; events: number; firstBad: { seq: number; id: string | null }; problem: string };

/** Walk the whole chain in order; name the first event that does not fit. */
export async function verifyAuditChain(db: Kysely<DB>): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let expected = 1;
  let count = 0;
  const page = 2000;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>=', expected)
      .orderBy('seq')
      .limit(page)
      .execute();
    for (const raw of rows) {
      const e = rowToEvent(raw);
      if (e.seq !== expected) {
        return { ok: false, events: count, firstBad: { seq: expected, id: null }, problem: `event #${expected} is missing (next present is #${e.seq} ${e.id})` };
      }
      if (e.prevHash !== prev) {
        return { ok: false, events: count, firstBad: { seq: e.seq, id: e.id }, problem: `event #${e.seq} (${e.id}) does not follow event #${e.seq - 1}: the chain was reordered or an event was removed or replaced` };
      }
      const { hash, ...rest } = e;
      if (eventHash(rest) !== hash) {
        return { ok: false, events: count, firstBad: { seq: e.seq, id: e.id }, problem: `event #${e.seq} (${e.id}) was modified: its content does not match its hash` };
      }
      prev = hash;
      expected += 1;
      count += 1;
    }
    if (rows.length < page) break;
  }
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  if (!head) return { ok: false, events: count, firstBad: { seq: expected, id: null }, problem: 'the chain head is missing' };
  if (Number(head.seq) !== count || head.hash !== prev) {
    return {
      ok: false,
      events: count,
      firstBad: { seq: count + 1, id: null },
      problem: `the chain ends at event #${count} but its head records #${head.seq}: events were deleted from the end`,
    };
  }
  return { ok: true, events: count, headHash: prev };
}

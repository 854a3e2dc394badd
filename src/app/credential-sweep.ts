// Taking credentials back when their grant ends, run by the sweeper:
//  - PostgreSQL roles of grants whose window is over, or that were revoked or
//    released: no login, sessions ended, dropped (postgres-target.ts). Rows are
//    claimed per target with a lease (SKIP LOCKED: two processes never take the
//    same row) and the work on the target runs outside any transaction; a
//    target that fails is retried with backoff and holds up no other target;
//  - SSH certificates and access tokens of grants ended early: written down
//    (credential.revoked); the KRL and token introspection already refuse them;
//  - roles of extended grants: VALID UNTIL moves to the new end.
// Each part runs whatever the others do; one failing is logged, not fatal.
import type { Transaction } from 'kysely';
import { sql } from 'kysely';
import type { DB } from '../store/schema.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type AppContext, inTransaction } from './context.js';
import { moveValidUntil, takeBackRoles } from './postgres-target.js';

const BATCH = 500;
const LEASE_S = 120;
const MAX_BACKOFF_S = 300;
/** A grant in these states ended before its window did; `consumed` only means no more uses, its credentials live to the end. */
export const ENDED_EARLY = ['revoked', 'released'] as const;

/** The action a credential is for (an access token's is in its credential.issued event). */
const ACTION: Record<string, string> = { 'postgres-role': 'connect', 'ssh-certificate': 'login' };

function revokedEvent(r: { id: string; kind: string; name: string; subject: string; grant_id: string; request_id: string; target: string; state: string }): AuditInput {
  return {
    type: 'credential.revoked',
    actor: 'ajar',
    subject: r.subject,
    grantId: r.grant_id,
    requestId: r.request_id,
    resource: r.target,
    action: ACTION[r.kind] ?? null,
    reason: (ENDED_EARLY as readonly string[]).includes(r.state) ? `the grant was ${r.state}` : 'the grant window ended',
    details: { credential: r.id, kind: r.kind, ...(r.kind === 'postgres-role' ? { role: r.name } : r.kind === 'ssh-certificate' ? { serial: r.name } : { jti: r.name }) },
  };
}

export async function takeBackCredentials(ctx: AppContext): Promise<{ revoked: number; extended: number }> {
  const parts = await Promise.allSettled([markEndedEarly(ctx), takeBackPostgresRoles(ctx), followExtensions(ctx)]);
  for (const p of parts) if (p.status === 'rejected') ctx.log.error({ err: String(p.reason) }, 'taking back credentials failed; will retry');
  const n = (i: number) => (parts[i]!.status === 'fulfilled' ? (parts[i] as PromiseFulfilledResult<number>).value : 0);
  return { revoked: n(0) + n(1), extended: n(2) };
}

/** SSH certificates and tokens still inside their validity whose grant was revoked or released. */
async function markEndedEarly(ctx: AppContext): Promise<number> {
  let total = 0;
  for (;;) {
    const now = ctx.clock.now();
    const n = await inTransaction(ctx, async (tx) => {
      const rows = await tx
        .selectFrom('credentials')
        .innerJoin('grants', 'grants.id', 'credentials.grant_id')
        .select(['credentials.id', 'credentials.kind', 'credentials.name', 'credentials.subject', 'credentials.grant_id', 'credentials.target', 'grants.request_id', 'grants.state'])
        .where('credentials.revoked_at', 'is', null)
        .where('credentials.kind', 'in', ['ssh-certificate', 'access-token'])
        .where('credentials.expires_at', '>', now)
        .where('grants.state', 'in', [...ENDED_EARLY])
        .limit(BATCH)
        .forUpdate('credentials')
        .skipLocked()
        .execute();
      if (rows.length === 0) return 0;
      await tx.updateTable('credentials').set({ revoked_at: now }).where('id', 'in', rows.map((r) => r.id)).execute();
      await appendAudit(tx, now, rows.map((r) => revokedEvent(r)));
      return rows.length;
    });
    total += n;
    if (n < BATCH) return total;
  }
}

/** Every target with roles to take back, each on its own (in parallel): a dead target delays no other. */
async function takeBackPostgresRoles(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  const targets = await dueRoles(ctx.db, now).select('credentials.target').distinct().execute();
  const done = await Promise.all(targets.map((t) => takeBackTarget(ctx, t.target)));
  return done.reduce((a, b) => a + b, 0);
}

/** Roles due to go: their grant's window is over, or it was revoked or released; not leased, not backing off. */
function dueRoles(db: AppContext['db'] | Transaction<DB>, now: Date) {
  return db
    .selectFrom('credentials')
    .innerJoin('grants', 'grants.id', 'credentials.grant_id')
    .where('credentials.revoked_at', 'is', null)
    .where('credentials.kind', '=', 'postgres-role')
    .where((eb) => eb.or([eb('grants.state', 'in', [...ENDED_EARLY, 'expired']), eb('grants.ends_at', '<=', now)]))
    .where((eb) => eb.or([eb('credentials.lease_until', 'is', null), eb('credentials.lease_until', '<=', now)]))
    .where((eb) => eb.or([eb('credentials.next_attempt_at', 'is', null), eb('credentials.next_attempt_at', '<=', now)]));
}

async function takeBackTarget(ctx: AppContext, targetText: string): Promise<number> {
  let total = 0;
  for (;;) {
    const now = ctx.clock.now();
    // Claimed in a short transaction; the lease keeps other processes off while the target is worked on.
    const rows = await inTransaction(ctx, async (tx) => {
      const due = await dueRoles(tx, now)
        .select(['credentials.id', 'credentials.kind', 'credentials.name', 'credentials.subject', 'credentials.grant_id', 'credentials.target', 'credentials.attempts', 'grants.request_id', 'grants.state'])
        .where('credentials.target', '=', targetText)
        .orderBy('credentials.expires_at')
        .limit(BATCH)
        .forUpdate('credentials')
        .skipLocked()
        .execute();
      if (due.length) await tx.updateTable('credentials').set({ lease_until: new Date(now.getTime() + LEASE_S * 1000) }).where('id', 'in', due.map((r) => r.id)).execute();
      return due;
    });
    if (rows.length === 0) return total;
    const name = targetText.slice('postgres:'.length);
    const target = ctx.config.credentials.postgres.get(name);
    let failed: Map<string, string>;
    try {
      if (!target) throw new Error(`no credentials.postgres.${name} in the config any more`);
      failed = await takeBackRoles(target, rows.map((r) => r.name));
    } catch (e) {
      failed = new Map(rows.map((r) => [r.name, (e as Error).message]));
    }
    const at = ctx.clock.now();
    const done = rows.filter((r) => !failed.has(r.name));
    await inTransaction(ctx, async (tx) => {
      if (done.length) await tx.updateTable('credentials').set({ revoked_at: at, revoke_error: null, lease_until: null }).where('id', 'in', done.map((r) => r.id)).execute();
      // Backoff: a role that cannot be dropped (it has no login any more) or a target that is down is tried again later.
      const byProblem = new Map<string, string[]>();
      for (const r of rows) if (failed.has(r.name)) byProblem.set(failed.get(r.name)!, [...(byProblem.get(failed.get(r.name)!) ?? []), r.id]);
      for (const [problem, ids] of byProblem) {
        await tx
          .updateTable('credentials')
          .set({
            attempts: sql`attempts + 1`,
            next_attempt_at: sql`${at}::timestamptz + make_interval(secs => least(${MAX_BACKOFF_S}, power(2, least(attempts, 8))))`,
            lease_until: null,
            revoke_error: problem.slice(0, 500),
          })
          .where('id', 'in', ids)
          .execute();
      }
      await appendAudit(tx, at, done.map((r) => revokedEvent(r)));
    });
    if (failed.size) ctx.log.error({ target: targetText, failed: failed.size, problem: [...failed.values()][0] }, 'could not take back every credential; will retry');
    total += done.length;
    if (rows.length < BATCH || failed.size) return total;
  }
}

/** Roles of grants extended since they were made: VALID UNTIL follows the grant's new end. */
async function followExtensions(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  const rows = await ctx.db
    .selectFrom('credentials')
    .innerJoin('grants', 'grants.id', 'credentials.grant_id')
    .select(['credentials.id', 'credentials.name', 'credentials.target', 'credentials.subject', 'credentials.grant_id', 'credentials.expires_at', 'grants.request_id', 'grants.ends_at'])
    .where('credentials.revoked_at', 'is', null)
    .where('credentials.kind', '=', 'postgres-role')
    .where('grants.state', 'in', ['scheduled', 'active', 'consumed'])
    .where('grants.ends_at', '>', now)
    .whereRef('grants.ends_at', '>', 'credentials.expires_at')
    .limit(BATCH)
    .execute();
  let moved = 0;
  const byTarget = new Map<string, typeof rows>();
  for (const r of rows) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r]);
  for (const [targetText, list] of byTarget) {
    const target = ctx.config.credentials.postgres.get(targetText.slice('postgres:'.length));
    if (!target) continue;
    try {
      await moveValidUntil(target, list.map((r) => ({ name: r.name, until: new Date(r.ends_at) })));
    } catch (e) {
      ctx.log.error({ target: targetText, problem: (e as Error).message }, 'could not extend login roles; will retry');
      continue;
    }
    const at = ctx.clock.now();
    await inTransaction(ctx, async (tx) => {
      for (const r of list) await tx.updateTable('credentials').set({ expires_at: new Date(r.ends_at) }).where('id', '=', r.id).execute();
      await appendAudit(
        tx,
        at,
        list.map((r) => ({
          type: 'credential.extended',
          actor: 'ajar',
          subject: r.subject,
          grantId: r.grant_id,
          requestId: r.request_id,
          resource: r.target,
          action: 'connect',
          reason: 'the grant was extended',
          details: { credential: r.id, kind: 'postgres-role', role: r.name, from: new Date(r.expires_at).toISOString(), to: new Date(r.ends_at).toISOString() },
        })),
      );
    });
    moved += list.length;
  }
  return moved;
}

// Uses of use-bound grants, counted when a push lands. Mercurial's hook decides
// inside the transaction, before it commits (another hook, or a failure, may
// still abort it): so an allowed push only *holds* a use of each use-bound
// grant it relies on (a reservation), and the hook settles it once the
// repository is unlocked: committed → counted, not committed → given back.
// Held uses count as taken for every other decision meanwhile, so two pushes
// in flight cannot share the last use. A reservation the hook never settles
// (the hook's process died, Ajar was unreachable after the commit) is counted
// after RESERVATION_TTL: fail closed.
import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { GrantView } from '../domain/grant.js';
import type { DB } from '../store/schema.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type AppContext, inTransaction } from './context.js';
import { grantView } from './views.js';

const RESERVATION_TTL_MS = 15 * 60 * 1000;
const OPEN = ['scheduled', 'active'];

/** Add `n` uses to a grant; the last one ends it (an open grant only: a revoked one stays revoked). */
export async function addUses(tx: Transaction<DB>, g: GrantView, n: number, now: Date, resource: string): Promise<{ uses: number; consumed: boolean; events: AuditInput[] }> {
  const uses = g.uses + n;
  const consumed = g.maxUses !== null && uses >= g.maxUses && OPEN.includes(g.state);
  await tx
    .updateTable('grants')
    .set({ uses, ...(consumed ? { state: 'consumed', ended_at: now, ended_by: 'ajar', end_reason: 'all uses consumed' } : {}) })
    .where('id', '=', g.id)
    .execute();
  const events: AuditInput[] = consumed ? [{ type: 'grant.consumed', actor: 'ajar', subject: g.subject, grantId: g.id, resource, action: 'push' }] : [];
  return { uses, consumed, events };
}

/**
 * The subject's grants (locked) as the decision must see them: uses held by pushes
 * not yet settled count as taken; those past RESERVATION_TTL are counted for good now.
 */
export async function withHeldUses(tx: Transaction<DB>, grants: GrantView[], now: Date, resource: string, events: AuditInput[]): Promise<GrantView[]> {
  const bound = grants.filter((g) => g.maxUses !== null).map((g) => g.id);
  if (bound.length === 0) return grants;
  const rows = await tx.selectFrom('push_uses').select(['reservation', 'grant_id', 'created_at']).where('grant_id', 'in', bound).execute();
  if (rows.length === 0) return grants;
  const staleBefore = now.getTime() - RESERVATION_TTL_MS;
  const out: GrantView[] = [];
  for (const g of grants) {
    const mine = rows.filter((r) => r.grant_id === g.id);
    const stale = mine.filter((r) => new Date(r.created_at).getTime() <= staleBefore);
    let view = g;
    if (stale.length > 0) {
      const counted = await addUses(tx, g, stale.length, now, resource);
      events.push(...counted.events);
      await tx.deleteFrom('push_uses').where('grant_id', '=', g.id).where('reservation', 'in', stale.map((r) => r.reservation)).execute();
      view = { ...g, uses: counted.uses, state: counted.consumed ? 'consumed' : g.state };
    }
    out.push({ ...view, uses: view.uses + mine.length - stale.length });
  }
  return out;
}

/** Hold one use of each of these grants for a push; the reservation the hook settles. */
export async function reserveUses(tx: Transaction<DB>, grantIds: string[], owner: string, now: Date): Promise<string> {
  const reservation = `ajpu_${randomBytes(12).toString('base64url')}`;
  await tx
    .insertInto('push_uses')
    .values(grantIds.map((grant_id) => ({ reservation, grant_id, owner, created_at: now })))
    .execute();
  return reservation;
}

/** The hook's word on a reservation: the push committed (count its uses) or not (give them back). */
export async function settleUses(ctx: AppContext, input: { owner: string; reservation: string; committed: boolean; resource: string }): Promise<{ settled: number }> {
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    const rows = await tx.selectFrom('push_uses').select('grant_id').where('reservation', '=', input.reservation).where('owner', '=', input.owner).execute();
    if (rows.length === 0) return { settled: 0 };
    const ids = rows.map((r) => r.grant_id);
    const grants = (await tx.selectFrom('grants').selectAll().where('id', 'in', ids).orderBy('id').forUpdate().execute()).map(grantView);
    await tx.deleteFrom('push_uses').where('reservation', '=', input.reservation).execute();
    if (input.committed) {
      const events: AuditInput[] = [];
      for (const g of grants) events.push(...(await addUses(tx, g, 1, now, input.resource)).events);
      if (events.length > 0) await appendAudit(tx, now, events);
    }
    return { settled: rows.length };
  });
}

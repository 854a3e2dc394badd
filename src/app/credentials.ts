// Real credentials for an active grant, dead when it ends. PostgreSQL: a
// temporary login role per issue (VALID UNTIL the grant's end, member of the
// target's configured role); when the grant ends — its window is over, it is
// revoked or released — the sweep takes it back (credential-sweep.ts). The
// password is shown once and stored nowhere.
import { randomBytes } from 'node:crypto';
import type { PostgresTarget } from '../config.js';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource, type Resource } from '../domain/resource.js';
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, newId } from './context.js';
import { requireGrant } from './grants.js';
import { createLoginRole } from './postgres-target.js';

export interface PostgresCredential {
  id: string;
  grantId: string;
  target: string;
  username: string;
  /** shown once */
  password: string;
  host: string;
  port: number;
  database: string;
  role: string;
  expiresAt: string;
}

function targetOf(ctx: AppContext, text: string): { resource: Resource; target: PostgresTarget } {
  const p = parseResource(text);
  if (!p.ok || p.value.kind !== 'postgres') throw badInput('target: name a database target, e.g. postgres:orders-prod', { field: 'target' });
  const target = ctx.config.credentials.postgres.get(p.value.name);
  if (!target) throw badInput(`target: Ajar mints no credentials for ${text} (config credentials.postgres)`, { field: 'target' });
  return { resource: p.value, target };
}

/**
 * Mint a login role for the caller's active `connect` grant on the target.
 * The credentials row is committed before the role exists, so no LOGIN role is
 * ever unknown to the sweep: if Ajar dies after creating it, the row is there
 * to take it back. The role is created while that row is locked (a sweep
 * skips it) and the grant is checked again, so a revoke in between wins.
 */
export async function issuePostgresCredential(ctx: AppContext, actor: Actor, targetText: string): Promise<PostgresCredential> {
  const { resource, target } = targetOf(ctx, targetText);
  const canonical = canonicalResource(resource);
  const username = `ajar_${randomBytes(9).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  const id = newId('crd');
  const issuedAt = ctx.clock.now();
  await inTransaction(ctx, async (tx) => {
    const { grant } = await requireGrant(tx, actor, 'connect', resource, issuedAt);
    await tx.insertInto('credentials').values({ id, grant_id: grant.id, subject: actor.name, kind: 'postgres-role', target: canonical, name: username, issued_at: issuedAt, expires_at: new Date(grant.ends_at) }).execute();
  });
  let created = false;
  try {
    return await inTransaction(ctx, async (tx) => {
      const row = await tx.selectFrom('credentials').select('revoked_at').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
      if (row.revoked_at) throw new AppError('permission_denied', `no active grant for connect on ${canonical}`);
      const now = ctx.clock.now();
      const { grant, events } = await requireGrant(tx, actor, 'connect', resource, now, { consume: true });
      const expiresAt = new Date(grant.ends_at);
      await tx.updateTable('credentials').set({ grant_id: grant.id, expires_at: expiresAt }).where('id', '=', id).execute();
      await createLoginRole(target, { name: username, password, until: expiresAt });
      created = true;
      await appendAudit(tx, now, [
        ...events,
        {
          type: 'credential.issued',
          actor: actor.name,
          subject: actor.name,
          grantId: grant.id,
          requestId: grant.request_id,
          resource: canonical,
          action: 'connect',
          details: { credential: id, kind: 'postgres-role', role: username, memberOf: target.role, expiresAt: expiresAt.toISOString() },
        },
      ]);
      return { id, grantId: grant.id, target: canonical, username, password, ...target.connect, role: target.role, expiresAt: expiresAt.toISOString() };
    });
  } catch (e) {
    // No role was made: the row is closed. A role that was made stays tracked, and the sweep takes it back.
    if (!created) {
      await ctx.db.updateTable('credentials').set({ revoked_at: ctx.clock.now(), revoke_error: `never created: ${(e as Error).message}`.slice(0, 500) }).where('id', '=', id).where('revoked_at', 'is', null).execute().catch(() => {});
    }
    throw e;
  }
}

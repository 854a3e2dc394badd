// Real credentials for an active grant, dead when it ends. PostgreSQL: a
// temporary login role per issue (VALID UNTIL the grant's end, member of the
// target's configured role); when the grant ends — expired, revoked, released,
// consumed — the sweep terminates its sessions and drops it. The password is
// shown once and stored nowhere.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PostgresTarget } from '../config.js';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource } from '../domain/resource.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, newId } from './context.js';
import { requireGrant } from './grants.js';

const OPEN = ['scheduled', 'active'];
const BATCH = 500;

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

function targetOf(ctx: AppContext, text: string): { resource: ReturnType<typeof parseResource> & { ok: true }; target: PostgresTarget } {
  const p = parseResource(text);
  if (!p.ok || p.value.kind !== 'postgres') throw badInput('target: name a database target, e.g. postgres:orders-prod', { field: 'target' });
  const target = ctx.config.credentials.postgres.get(p.value.name);
  if (!target) throw badInput(`target: Ajar mints no credentials for ${text} (config credentials.postgres)`, { field: 'target' });
  return { resource: p, target };
}

async function admin(target: PostgresTarget): Promise<pg.Client> {
  const url = process.env[target.adminUrlEnv];
  if (!url) throw new AppError('unavailable', `credentials.postgres.${target.name}: ${target.adminUrlEnv} is not set in Ajar's environment`);
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (e) {
    // The message, never the URL (it may hold a password).
    throw new AppError('unavailable', `cannot reach the database of ${target.name}: ${(e as Error).message}`);
  }
  return c;
}

/** Mint a login role for the caller's active `connect` grant on the target. */
export async function issuePostgresCredential(ctx: AppContext, actor: Actor, targetText: string): Promise<PostgresCredential> {
  const { resource, target } = targetOf(ctx, targetText);
  const now = ctx.clock.now();
  const username = `ajar_${randomBytes(9).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  const id = newId('crd');
  return inTransaction(ctx, async (tx) => {
    // The grant row stays locked until the role exists: a revoke waits, then finds the credential.
    const g = await requireGrant(tx, actor.name, 'connect', resource.value, now, { consume: true });
    const events: AuditInput[] = [];
    const expiresAt = new Date(g.ends_at);
    await tx.insertInto('credentials').values({ id, grant_id: g.id, subject: actor.name, kind: 'postgres-role', target: canonicalResource(resource.value), name: username, issued_at: now, expires_at: expiresAt }).execute();
    events.push({
      type: 'credential.issued',
      actor: actor.name,
      subject: actor.name,
      grantId: g.id,
      requestId: g.request_id,
      resource: canonicalResource(resource.value),
      action: 'connect',
      details: { credential: id, kind: 'postgres-role', role: username, memberOf: target.role, expiresAt: expiresAt.toISOString() },
    });
    await appendAudit(tx, now, events);
    const c = await admin(target);
    try {
      await c.query(
        `create role ${c.escapeIdentifier(username)} login password ${c.escapeLiteral(password)} valid until ${c.escapeLiteral(expiresAt.toISOString())} in role ${c.escapeIdentifier(target.role)}`,
      );
    } catch (e) {
      throw new AppError('unavailable', `cannot create the login role on ${target.name}: ${(e as Error).message}`);
    } finally {
      await c.end().catch(() => {});
    }
    return { id, grantId: g.id, target: canonicalResource(resource.value), username, password, ...target.connect, role: target.role, expiresAt: expiresAt.toISOString() };
  });
}

/**
 * Take back every credential whose grant has ended (by time, revocation,
 * release or use): terminate its sessions and drop its role. Rows are claimed
 * with SKIP LOCKED, so several processes never do the same work; a target that
 * cannot be reached is retried on the next sweep.
 */
export async function revokeEndedCredentials(ctx: AppContext): Promise<number> {
  let total = 0;
  for (;;) {
    const now = ctx.clock.now();
    const n = await inTransaction(ctx, async (tx) => {
      const due = await tx
        .selectFrom('credentials')
        .innerJoin('grants', 'grants.id', 'credentials.grant_id')
        .select(['credentials.id', 'credentials.name', 'credentials.target', 'credentials.subject', 'credentials.grant_id', 'grants.request_id', 'grants.state', 'grants.ends_at'])
        .where('credentials.revoked_at', 'is', null)
        .where('credentials.kind', '=', 'postgres-role')
        .where((eb) => eb.or([eb('grants.state', 'not in', OPEN), eb('grants.ends_at', '<=', now)]))
        .orderBy('credentials.expires_at')
        .limit(BATCH)
        .forUpdate('credentials')
        .skipLocked()
        .execute();
      if (due.length === 0) return 0;
      const events: AuditInput[] = [];
      const byTarget = new Map<string, typeof due>();
      for (const r of due) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r]);
      for (const [targetText, rows] of byTarget) {
        const name = targetText.slice('postgres:'.length);
        const target = ctx.config.credentials.postgres.get(name);
        let error: string | null = target ? null : `no credentials.postgres.${name} in the config any more`;
        if (target) {
          try {
            const c = await admin(target);
            try {
              const names = rows.map((r) => r.name);
              // Sessions first, so nothing stays connected; then the roles, in one statement.
              await c.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = any($1)', [names]);
              const existing = (await c.query('select rolname from pg_roles where rolname = any($1)', [names])).rows.map((r: { rolname: string }) => r.rolname);
              if (existing.length) {
                const list = existing.map((r) => c.escapeIdentifier(r)).join(', ');
                await c.query(`drop owned by ${list}`);
                await c.query(`drop role ${list}`);
              }
            } finally {
              await c.end().catch(() => {});
            }
          } catch (e) {
            error = (e as Error).message;
          }
        }
        if (error) {
          ctx.log.error({ target: targetText, problem: error }, 'could not take back credentials; will retry');
          // Left open (the role still ends at VALID UNTIL); the next sweep tries again.
          continue;
        }
        await tx.updateTable('credentials').set({ revoked_at: now }).where('id', 'in', rows.map((r) => r.id)).execute();
        for (const r of rows) {
          events.push({
            type: 'credential.revoked',
            actor: 'ajar',
            subject: r.subject,
            grantId: r.grant_id,
            requestId: r.request_id,
            resource: r.target,
            action: 'connect',
            reason: OPEN.includes(r.state) || r.state === 'expired' ? 'the grant window ended' : `the grant was ${r.state}`,
            details: { credential: r.id, kind: 'postgres-role', role: r.name },
          });
        }
      }
      await appendAudit(tx, now, events);
      return events.length;
    });
    total += n;
    if (n < BATCH) return total;
  }
}

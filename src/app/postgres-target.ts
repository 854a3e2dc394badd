// What Ajar does on a PostgreSQL target, as its admin (credentials.postgres.<t>.admin_url_env):
// create a temporary login role, move its VALID UNTIL, and take it back.
// The admin needs CREATEROLE, membership of the target role (REASSIGN OWNED
// gives its objects to it) and pg_signal_backend (to end sessions), or superuser.
import pg from 'pg';
import type { PostgresTarget } from '../config.js';
import { AppError } from '../domain/errors.js';

async function connect(target: PostgresTarget): Promise<pg.Client> {
  const url = process.env[target.adminUrlEnv];
  if (!url) throw new AppError('unavailable', `credentials.postgres.${target.name}: ${target.adminUrlEnv} is not set in Ajar's environment`);
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  // A target that drops the connection must not crash Ajar; the query in flight fails instead.
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (e) {
    // The message, never the URL (it may hold a password).
    throw new AppError('unavailable', `cannot reach the database of ${target.name}: ${(e as Error).message}`);
  }
  return c;
}

async function withAdmin<T>(target: PostgresTarget, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(target);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

export function createLoginRole(target: PostgresTarget, role: { name: string; password: string; until: Date }): Promise<void> {
  return withAdmin(target, async (c) => {
    try {
      await c.query(
        `create role ${c.escapeIdentifier(role.name)} login password ${c.escapeLiteral(role.password)} valid until ${c.escapeLiteral(role.until.toISOString())} in role ${c.escapeIdentifier(target.role)}`,
      );
    } catch (e) {
      throw new AppError('unavailable', `cannot create the login role on ${target.name}: ${(e as Error).message}`);
    }
  });
}

/** A grant was extended: its roles may log in until the new end. */
export function moveValidUntil(target: PostgresTarget, roles: { name: string; until: Date }[]): Promise<void> {
  return withAdmin(target, async (c) => {
    const existing = new Set((await c.query('select rolname from pg_roles where rolname = any($1)', [roles.map((r) => r.name)])).rows.map((r: { rolname: string }) => r.rolname));
    const moves = roles.filter((r) => existing.has(r.name));
    if (moves.length) await c.query(moves.map((r) => `alter role ${c.escapeIdentifier(r.name)} valid until ${c.escapeLiteral(r.until.toISOString())}`).join(';\n'));
  });
}

/**
 * Take the roles back, in this order, so no step leaves a way in:
 *  1. NOLOGIN and VALID UNTIL now: no new session, whatever fails later;
 *  2. end their sessions;
 *  3. give what they own to the target role (a table made in a data fix is
 *     kept), drop their privileges, drop them;
 *  4. end any session that was still logging in during step 1 (by oid: a
 *     dropped role's sessions have no user name any more).
 * Returns the roles that could not be dropped, with why (they have no login).
 * Throws when the target cannot be reached or step 1 fails.
 */
export function takeBackRoles(target: PostgresTarget, names: string[]): Promise<Map<string, string>> {
  return withAdmin(target, async (c) => {
    const failed = new Map<string, string>();
    const roles = (await c.query('select oid::int8::text as oid, rolname from pg_roles where rolname = any($1)', [names])).rows as { oid: string; rolname: string }[];
    if (roles.length === 0) return failed;
    const oids = roles.map((r) => r.oid);
    const id = (n: string) => c.escapeIdentifier(n);
    await c.query(roles.map((r) => `alter role ${id(r.rolname)} nologin valid until 'now'`).join(';\n'));
    const endSessions = () => c.query('select pg_terminate_backend(pid) from pg_stat_activity where usesysid = any($1::oid[]) and pid <> pg_backend_pid()', [oids]);
    await endSessions();
    // One statement string is one implicit transaction: a role is dropped whole or not at all.
    const drop = (list: string[]) => c.query(`reassign owned by ${list.join(', ')} to ${id(target.role)}; drop owned by ${list.join(', ')}; drop role ${list.join(', ')}`);
    try {
      await drop(roles.map((r) => id(r.rolname)));
    } catch {
      // One role that cannot go (say, it owns objects in another database) must not keep the others.
      for (const r of roles) {
        try {
          await drop([id(r.rolname)]);
        } catch (e) {
          failed.set(r.rolname, (e as Error).message);
        }
      }
    }
    await endSessions();
    return failed;
  });
}

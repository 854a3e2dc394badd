// What every use case needs, passed in from the one composition root (main).
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Config, Identity } from '../config.js';
import type { Clock } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import type { DB } from '../store/schema.js';

export interface AppContext {
  db: Kysely<DB>;
  config: Config;
  clock: Clock;
  log: Logger;
  policyVersion: string;
}

/** The caller of a use case, already authenticated. */
export type Actor = Identity & { via: 'token' | 'local' | 'slack' };

/** The identity that operates the server host: whoever can reach the admin socket or the database. */
export function localAdmin(user: string): Actor {
  return { name: `local:${user}`, kind: 'user', groups: [], attributes: {}, disabled: false, admin: true, via: 'local' };
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function policyVersion(config: Config): string {
  // Maps (the on-call schedule) count too; functions (compiled CEL) are covered by their source text.
  return sha256(JSON.stringify(config.policy, (_k, v) => (v instanceof Map ? [...v] : v))).slice(0, 16);
}

export async function inTransaction<T>(ctx: AppContext, fn: (tx: Transaction<DB>) => Promise<T>): Promise<T> {
  try {
    return await ctx.db.transaction().execute(fn);
  } catch (e) {
    if (e instanceof AppError) throw e;
    // A race the constraints caught is a conflict, not a crash.
    if ((e as { code?: string }).code === '23505') throw new AppError('conflict', 'this change conflicts with one made at the same time; retry');
    throw e;
  }
}

export function requireAdmin(actor: Actor): void {
  if (!actor.admin) throw new AppError('permission_denied', 'this needs an Ajar admin');
}

/** Identity is refused everywhere when unknown, disabled in config or disabled with `ajar user disable`. */
export async function activeIdentity(ctx: AppContext, db: Kysely<DB> | Transaction<DB>, name: string): Promise<Identity | undefined> {
  const id = ctx.config.identities.get(name);
  if (!id || id.disabled) return undefined;
  const st = await db.selectFrom('identity_state').select('disabled_at').where('name', '=', name).executeTakeFirst();
  if (st?.disabled_at) return undefined;
  return id;
}

/** Every identity not disabled (in the config or with `ajar user disable`), read in one query. */
export async function activeIdentities(ctx: AppContext, db: Kysely<DB> | Transaction<DB>): Promise<Identity[]> {
  const off = new Set((await db.selectFrom('identity_state').select('name').where('disabled_at', 'is not', null).execute()).map((r) => r.name));
  return [...ctx.config.identities.values()].filter((i) => !i.disabled && !off.has(i.name));
}

// Identities, API tokens and offboarding.
import { randomBytes } from 'node:crypto';
import { parseDuration } from '../domain/duration.js';
import { AppError, badInput, notFound } from '../domain/errors.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, newId, requireAdmin, sha256 } from './context.js';
import { revokeAllOf } from './grants.js';
import { authenticateWorkload, looksLikeJwt, sessionActor } from './workloads.js';

const TOKEN_PREFIX = 'ajar_';
const MAX_TTL_S = 366 * 86400;

/** Resolve a bearer token to its identity; unknown, expired, revoked or disabled → undefined. */
export async function authenticate(ctx: AppContext, secret: string): Promise<Actor | undefined> {
  if (looksLikeJwt(secret)) return authenticateWorkload(ctx, secret);
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return undefined;
  const now = ctx.clock.now();
  const row = await ctx.db
    .selectFrom('api_tokens')
    .leftJoin('identity_state', 'identity_state.name', 'api_tokens.subject')
    .select(['api_tokens.subject', 'api_tokens.expires_at', 'api_tokens.revoked_at', 'api_tokens.claims', 'identity_state.disabled_at'])
    .where('api_tokens.secret_hash', '=', sha256(secret))
    .executeTakeFirst();
  if (!row || row.revoked_at || row.disabled_at || new Date(row.expires_at) <= now) return undefined;
  // A workload's session: the claims it was exchanged for, checked against today's config.
  if (row.claims) return sessionActor(ctx, row.subject, row.claims);
  const id = ctx.config.identities.get(row.subject);
  if (!id || id.disabled) return undefined;
  return { ...id, via: 'token' };
}

export interface TokenDto {
  id: string;
  subject: string;
  description: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export async function createToken(ctx: AppContext, actor: Actor, input: { subject: string; ttl?: string; description?: string }) {
  requireAdmin(actor);
  const id = ctx.config.identities.get(input.subject);
  if (!id) throw badInput(`user: unknown user or service account "${input.subject}"; identities are defined in the config file`, { field: 'user' });
  if (id.kind === 'workload') throw badInput(`user: ${input.subject} is a workload; it proves itself with its CI's OIDC token, not an Ajar token`, { field: 'user' });
  const ttl = parseDuration(input.ttl ?? '30d');
  if (!ttl.ok) throw badInput(`ttl: ${ttl.error}`, { field: 'ttl' });
  if (ttl.value > MAX_TTL_S) throw badInput('ttl: at most 366d', { field: 'ttl' });
  const now = ctx.clock.now();
  const secret = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const row = {
    id: newId('tok'),
    subject: input.subject,
    secret_hash: sha256(secret),
    description: input.description ?? null,
    created_by: actor.name,
    created_at: now,
    expires_at: new Date(now.getTime() + ttl.value * 1000),
  };
  await inTransaction(ctx, async (tx) => {
    const st = await tx.selectFrom('identity_state').select('disabled_at').where('name', '=', input.subject).executeTakeFirst();
    if (id.disabled || st?.disabled_at) throw new AppError('failed_precondition', `${input.subject} is disabled; enable it first`);
    await tx.insertInto('api_tokens').values(row).execute();
    await appendAudit(tx, now, [
      { type: 'token.created', actor: actor.name, subject: input.subject, details: { tokenId: row.id, expiresAt: row.expires_at.toISOString() } },
    ]);
  });
  // The secret is returned once and never stored.
  return { token: secret, ...tokenDto({ ...row, revoked_at: null }) };
}

function tokenDto(r: { id: string; subject: string; description: string | null; created_by: string; created_at: Date | string; expires_at: Date | string; revoked_at: Date | string | null }): TokenDto {
  return {
    id: r.id,
    subject: r.subject,
    description: r.description,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: new Date(r.expires_at).toISOString(),
    revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  };
}

export async function listTokens(ctx: AppContext, actor: Actor, subject?: string): Promise<TokenDto[]> {
  const who = actor.admin ? subject : actor.name;
  let q = ctx.db.selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc');
  if (who) q = q.where('subject', '=', who);
  return (await q.execute()).map(tokenDto);
}

export async function revokeToken(ctx: AppContext, actor: Actor, id: string): Promise<TokenDto> {
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    const t = await tx.selectFrom('api_tokens').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!t || (!actor.admin && t.subject !== actor.name)) throw notFound(`token ${id}`);
    if (!t.revoked_at) {
      await tx.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', id).execute();
      await appendAudit(tx, now, [{ type: 'token.revoked', actor: actor.name, subject: t.subject, details: { tokenId: id } }]);
      t.revoked_at = now;
    }
    return tokenDto(t);
  });
}

export interface UserDto {
  name: string;
  kind: 'user' | 'service_account' | 'workload';
  groups: string[];
  attributes: Record<string, string>;
  admin: boolean;
  disabled: boolean;
  disabledAt: string | null;
  disabledBy: string | null;
}

export async function listUsers(ctx: AppContext, actor: Actor): Promise<UserDto[]> {
  requireAdmin(actor);
  const state = await ctx.db.selectFrom('identity_state').selectAll().execute();
  return [...ctx.config.identities.values()].map((i) => {
    const st = state.find((s) => s.name === i.name);
    return {
      name: i.name,
      kind: i.kind,
      groups: i.groups,
      attributes: i.attributes,
      admin: i.admin,
      disabled: i.disabled || !!st?.disabled_at,
      disabledAt: st?.disabled_at ? new Date(st.disabled_at).toISOString() : null,
      disabledBy: st?.disabled_by ?? (i.disabled ? 'config' : null),
    };
  });
}

/**
 * Offboarding in one transaction: the identity is disabled, every open grant is
 * revoked, every pending request cancelled and every token revoked.
 */
export async function disableUser(ctx: AppContext, actor: Actor, name: string, reason: string | undefined) {
  requireAdmin(actor);
  if (!ctx.config.identities.has(name)) throw notFound(`user ${name}`);
  if (name === actor.name) throw new AppError('failed_precondition', 'you cannot disable yourself');
  const now = ctx.clock.now();
  const why = reason?.trim() || 'user disabled';
  const summary = await inTransaction(ctx, async (tx) => {
    const existing = await tx.selectFrom('identity_state').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
    if (existing?.disabled_at) return { changed: false, grants: 0, requests: 0, tokens: 0 };
    if (existing) await tx.updateTable('identity_state').set({ disabled_at: now, disabled_by: actor.name, disabled_reason: why }).where('name', '=', name).execute();
    else await tx.insertInto('identity_state').values({ name, disabled_at: now, disabled_by: actor.name, disabled_reason: why }).execute();
    const events: AuditInput[] = await revokeAllOf(tx, name, actor.name, `${why} (offboarding)`, now);
    const grants = events.length;
    const pending = await tx.selectFrom('access_requests').select(['id']).where('requester', '=', name).where('state', '=', 'pending').forUpdate().execute();
    if (pending.length > 0) {
      await tx.updateTable('access_requests').set({ state: 'cancelled', decided_at: now, decided_by: actor.name, decision_reason: `${why} (offboarding)` }).where('id', 'in', pending.map((p) => p.id)).execute();
    }
    for (const p of pending) events.push({ type: 'request.cancelled', actor: actor.name, subject: name, requestId: p.id, reason: `${why} (offboarding)` });
    const tokens = await tx.updateTable('api_tokens').set({ revoked_at: now }).where('subject', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
    events.unshift({ type: 'user.disabled', actor: actor.name, subject: name, reason: why, details: { grantsRevoked: grants, requestsCancelled: pending.length, tokensRevoked: Number(tokens.numUpdatedRows) } });
    await appendAudit(tx, now, events);
    return { changed: true, grants, requests: pending.length, tokens: Number(tokens.numUpdatedRows) };
  });
  return { user: name, disabled: true, ...summary };
}

export async function enableUser(ctx: AppContext, actor: Actor, name: string) {
  requireAdmin(actor);
  if (!ctx.config.identities.has(name)) throw notFound(`user ${name}`);
  const now = ctx.clock.now();
  const changed = await inTransaction(ctx, async (tx) => {
    const st = await tx.selectFrom('identity_state').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
    if (!st?.disabled_at) return false;
    await tx.updateTable('identity_state').set({ disabled_at: null, disabled_by: null, disabled_reason: null }).where('name', '=', name).execute();
    await appendAudit(tx, now, [{ type: 'user.enabled', actor: actor.name, subject: name }]);
    return true;
  });
  return { user: name, disabled: ctx.config.identities.get(name)!.disabled, changed };
}

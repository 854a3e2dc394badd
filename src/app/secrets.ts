// Pipeline secrets: stored encrypted (AES-256-GCM with a key from the
// environment, never a default; each ciphertext bound to its environment and
// name), set by admins, released only to an identity holding an active
// `read-secrets` grant on that environment. Values never reach logs, errors
// or the audit log — only names.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource, type Resource } from '../domain/resource.js';
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, requireAdmin } from './context.js';
import { requireGrant } from './grants.js';

const NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;
const MAX_VALUE = 64 * 1024;

interface Key {
  /** a fingerprint stored with each ciphertext, so a rotated-out key is found (and nothing about the key is learnt) */
  id: string;
  bytes: Buffer;
}

function decodeKey(env: NodeJS.ProcessEnv, name: string): Key | string {
  const raw = env[name];
  const bytes = raw ? Buffer.from(raw, 'base64') : undefined;
  if (!bytes || bytes.length !== 32) return `${name} must hold 32 random bytes in base64 (openssl rand -base64 32)`;
  return { id: createHash('sha256').update('ajar secrets key\0').update(bytes).digest('hex').slice(0, 16), bytes };
}

/** Checked at start-up and on reload: a server with a missing or malformed key does not start, rather than fail at deploy time. */
export function secretsKeyProblems(config: Config, env: NodeJS.ProcessEnv): string[] {
  const s = config.secrets;
  if (!s) return [];
  return [s.keyEnv, ...s.oldKeyEnvs].flatMap((name) => {
    const k = decodeKey(env, name);
    return typeof k === 'string' ? [`${config.file}: secrets: ${k}`] : [];
  });
}

/** The current key (it seals) and the old ones (they only unseal, until `ajar secret reseal`). */
function keys(ctx: AppContext): { current: Key; all: Key[] } {
  const s = ctx.config.secrets;
  if (!s) throw badInput('Ajar keeps no secrets here (config secrets.key_env)');
  const all = [s.keyEnv, ...s.oldKeyEnvs].map((name) => decodeKey(process.env, name));
  const bad = all.find((k): k is string => typeof k === 'string');
  if (bad) throw new AppError('unavailable', bad);
  return { current: all[0] as Key, all: all as Key[] };
}

function environment(text: string): Resource {
  const p = parseResource(text);
  if (!p.ok || p.value.kind !== 'env' || p.value.scope === undefined || p.value.name.includes('*') || p.value.scope.includes('*')) {
    throw badInput('resource: name one environment, e.g. env:payments:production', { field: 'resource' });
  }
  return p.value;
}

function seal(k: Key, slot: string, value: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k.bytes, iv);
  c.setAAD(Buffer.from(slot));
  const body = Buffer.concat([c.update(value, 'utf8'), c.final()]);
  return `v2.${k.id}.${iv.toString('base64')}.${c.getAuthTag().toString('base64')}.${body.toString('base64')}`;
}

/** The id of the key a stored secret was sealed with (v1 rows carry none). */
const keyIdOf = (sealed: string) => (sealed.startsWith('v2.') ? sealed.split('.')[1] : undefined);

function unseal(keyring: Key[], slot: string, sealed: string): string {
  const parts = sealed.split('.');
  const v2 = parts[0] === 'v2';
  const [iv, tag, body] = v2 ? parts.slice(2) : parts.slice(1);
  if ((parts[0] !== 'v1' && !v2) || !iv || !tag || body === undefined) throw new AppError('internal', 'a stored secret is unreadable');
  // v2 names its key; v1 (before key ids) may be any of them.
  const candidates = v2 ? keyring.filter((k) => k.id === parts[1]) : keyring;
  if (v2 && candidates.length === 0) throw new AppError('unavailable', `the secret ${slot} was sealed with key ${parts[1]}, which is not configured (secrets.key_env, secrets.old_key_envs)`);
  for (const k of candidates) {
    const d = createDecipheriv('aes-256-gcm', k.bytes, Buffer.from(iv, 'base64'));
    d.setAAD(Buffer.from(slot));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    try {
      return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
    } catch {
      /* a wrong key or a tampered row: try the next key */
    }
  }
  // Say which slot, never the value.
  throw new AppError('unavailable', `the secret ${slot} cannot be decrypted with the configured key`);
}

export async function setSecret(ctx: AppContext, actor: Actor, input: { resource: string; name: string; value: string }): Promise<{ resource: string; name: string }> {
  requireAdmin(actor);
  const r = canonicalResource(environment(input.resource));
  if (!NAME.test(input.name)) throw badInput('name: upper-case letters, digits and _ (an environment variable name)', { field: 'name' });
  if (typeof input.value !== 'string' || input.value.length === 0 || input.value.length > MAX_VALUE) throw badInput('value: between 1 byte and 64 KiB', { field: 'value' });
  const sealed = seal(keys(ctx).current, `${r}/${input.name}`, input.value);
  const now = ctx.clock.now();
  await inTransaction(ctx, async (tx) => {
    await tx
      .insertInto('secrets')
      .values({ resource: r, name: input.name, sealed, updated_at: now, updated_by: actor.name })
      .onConflict((oc) => oc.columns(['resource', 'name']).doUpdateSet({ sealed, updated_at: now, updated_by: actor.name }))
      .execute();
    await appendAudit(tx, now, [{ type: 'secret.set', actor: actor.name, resource: r, details: { name: input.name } }]);
  });
  return { resource: r, name: input.name };
}

export async function listSecrets(ctx: AppContext, actor: Actor, resource: string): Promise<{ name: string; updatedAt: string; updatedBy: string }[]> {
  requireAdmin(actor);
  const r = canonicalResource(environment(resource));
  const rows = await ctx.db.selectFrom('secrets').select(['name', 'updated_at', 'updated_by']).where('resource', '=', r).orderBy('name').execute();
  return rows.map((x) => ({ name: x.name, updatedAt: new Date(x.updated_at).toISOString(), updatedBy: x.updated_by }));
}

/** The environment's secrets (or the named ones) for a caller with an active read-secrets grant on it. */
export async function readSecrets(ctx: AppContext, actor: Actor, input: { resource: string; names?: string[] | undefined; artifact?: string | undefined }): Promise<{ resource: string; secrets: Record<string, string>; grantId: string }> {
  const env = environment(input.resource);
  const r = canonicalResource(env);
  const k = keys(ctx).all;
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    // A grant bound to a build releases the secrets for that build's deploy only.
    const { grant: g } = await requireGrant(tx, actor, 'read-secrets', env, now, { artifact: input.artifact });
    let q = tx.selectFrom('secrets').select(['name', 'sealed']).where('resource', '=', r);
    if (input.names?.length) q = q.where('name', 'in', input.names);
    const found = await q.orderBy('name').execute();
    const missing = (input.names ?? []).filter((n) => !found.some((f) => f.name === n));
    if (missing.length) throw new AppError('not_found', `no secret ${missing.join(', ')} on ${r}`);
    const secrets: Record<string, string> = {};
    for (const f of found) secrets[f.name] = unseal(k, `${r}/${f.name}`, f.sealed);
    await appendAudit(tx, now, [
      { type: 'secret.read', actor: actor.name, subject: actor.name, grantId: g.id, requestId: g.request_id, resource: r, action: 'read-secrets', details: { names: found.map((f) => f.name), ...(input.artifact ? { artifact: input.artifact } : {}) } },
    ]);
    return { resource: r, secrets, grantId: g.id };
  });
}

/**
 * Key rotation: every secret not sealed with the current key is unsealed (with
 * whichever configured key it names) and sealed again with the current one.
 * Afterwards the old key can leave secrets.old_key_envs.
 */
export async function resealSecrets(ctx: AppContext, actor: Actor): Promise<{ resealed: number; keyId: string }> {
  requireAdmin(actor);
  const { current, all } = keys(ctx);
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    const rows = await tx.selectFrom('secrets').select(['resource', 'name', 'sealed']).orderBy('resource').orderBy('name').forUpdate().execute();
    const stale = rows.filter((row) => keyIdOf(row.sealed) !== current.id);
    for (const row of stale) {
      const slot = `${row.resource}/${row.name}`;
      await tx.updateTable('secrets').set({ sealed: seal(current, slot, unseal(all, slot, row.sealed)) }).where('resource', '=', row.resource).where('name', '=', row.name).execute();
    }
    await appendAudit(tx, now, [{ type: 'secret.resealed', actor: actor.name, details: { count: stale.length, keyId: current.id, names: stale.map((x) => `${x.resource}/${x.name}`) } }]);
    return { resealed: stale.length, keyId: current.id };
  });
}

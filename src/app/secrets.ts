// Pipeline secrets: stored encrypted (AES-256-GCM with a key from the
// environment, never a default; each ciphertext bound to its environment and
// name), set by admins, released only to an identity holding an active
// `read-secrets` grant on that environment. Values never reach logs, errors
// or the audit log — only names.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource, type Resource } from '../domain/resource.js';
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, requireAdmin } from './context.js';
import { requireGrant } from './grants.js';

const NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;
const MAX_VALUE = 64 * 1024;

function key(ctx: AppContext): Buffer {
  const s = ctx.config.secrets;
  if (!s) throw badInput('Ajar keeps no secrets here (config secrets.key_env)');
  const raw = process.env[s.keyEnv];
  const k = raw ? Buffer.from(raw, 'base64') : undefined;
  if (!k || k.length !== 32) throw new AppError('unavailable', `${s.keyEnv} must hold 32 random bytes in base64 (openssl rand -base64 32)`);
  return k;
}

function environment(text: string): Resource {
  const p = parseResource(text);
  if (!p.ok || p.value.kind !== 'env' || p.value.scope === undefined || p.value.name.includes('*') || p.value.scope.includes('*')) {
    throw badInput('resource: name one environment, e.g. env:payments:production', { field: 'resource' });
  }
  return p.value;
}

function seal(k: Buffer, slot: string, value: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k, iv);
  c.setAAD(Buffer.from(slot));
  const body = Buffer.concat([c.update(value, 'utf8'), c.final()]);
  return `v1.${iv.toString('base64')}.${c.getAuthTag().toString('base64')}.${body.toString('base64')}`;
}

function unseal(k: Buffer, slot: string, sealed: string): string {
  const [v, iv, tag, body] = sealed.split('.');
  if (v !== 'v1' || !iv || !tag || body === undefined) throw new AppError('internal', 'a stored secret is unreadable');
  const d = createDecipheriv('aes-256-gcm', k, Buffer.from(iv, 'base64'));
  d.setAAD(Buffer.from(slot));
  d.setAuthTag(Buffer.from(tag, 'base64'));
  try {
    return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
  } catch {
    // A wrong key or a tampered row: say which slot, never the value.
    throw new AppError('unavailable', `the secret ${slot} cannot be decrypted with the configured key`);
  }
}

export async function setSecret(ctx: AppContext, actor: Actor, input: { resource: string; name: string; value: string }): Promise<{ resource: string; name: string }> {
  requireAdmin(actor);
  const r = canonicalResource(environment(input.resource));
  if (!NAME.test(input.name)) throw badInput('name: upper-case letters, digits and _ (an environment variable name)', { field: 'name' });
  if (typeof input.value !== 'string' || input.value.length === 0 || input.value.length > MAX_VALUE) throw badInput('value: between 1 byte and 64 KiB', { field: 'value' });
  const sealed = seal(key(ctx), `${r}/${input.name}`, input.value);
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
  const k = key(ctx);
  const now = ctx.clock.now();
  return inTransaction(ctx, async (tx) => {
    // A grant bound to a build releases the secrets for that build's deploy only.
    const g = await requireGrant(tx, actor.name, 'read-secrets', env, now, { artifact: input.artifact });
    let q = tx.selectFrom('secrets').select(['name', 'sealed']).where('resource', '=', r);
    if (input.names?.length) q = q.where('name', 'in', input.names);
    const found = await q.orderBy('name').execute();
    const missing = (input.names ?? []).filter((n) => !found.some((f) => f.name === n));
    if (missing.length) throw new AppError('not_found', `no secret ${missing.join(', ')} on ${r}`);
    const secrets: Record<string, string> = {};
    for (const f of found) secrets[f.name] = unseal(k, `${r}/${f.name}`, f.sealed);
    await appendAudit(tx, now, [{ type: 'secret.read', actor: actor.name, subject: actor.name, grantId: g.id, resource: r, action: 'read-secrets', details: { names: found.map((f) => f.name) } }]);
    return { resource: r, secrets, grantId: g.id };
  });
}

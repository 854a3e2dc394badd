// Access to Git and Mercurial repositories through Ajar, the same logic for
// both: may this person read from or write to this repository (asked by the
// HTTP gateways and the SSH command), and — the authority — may this push make
// these changes (asked by the server-side hook). Every answer is audited; a
// denial says what is missing and how to ask.
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Identity } from '../config.js';
import { decide, requestCommand } from '../domain/decide.js';
import { AppError } from '../domain/errors.js';
import { globMatch } from '../domain/glob.js';
import { effectiveGrantState, type GrantView } from '../domain/grant.js';
import { ACTIONS, canonicalResource, type Resource } from '../domain/resource.js';
import { evaluateRequest } from '../policy/policy.js';
import type { DB } from '../store/schema.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type Actor, type AppContext, activeIdentity, inTransaction, sha256 } from './context.js';
import { createRequest, jsonList, onCallNow } from './requests.js';
import { addUses, reserveUses, settleUses, withHeldUses } from './push-uses.js';
import { grantView } from './views.js';

export type RepoKind = 'git' | 'hg';
export type Transport = 'http' | 'ssh' | 'hook';

export type RepoAccess = { allow: true; grantId: string | null } | { allow: false; lines: string[] };

const SESSION_PREFIX = 'ajps_';
const SESSION_TTL_MS = 6 * 3600 * 1000;
const OPEN = ['scheduled', 'active'];
const READ_EVENT: Record<RepoKind, string> = { git: 'git.fetch', hg: 'hg.pull' };

/** A repository Ajar manages: a configured `git:<name>` or `hg:<name>` resource. */
export function isManagedRepo(ctx: AppContext, kind: RepoKind, name: string): boolean {
  return ctx.config.resources.some((c) => c.resource.kind === kind && c.resource.name === name && c.resource.scope === undefined);
}

async function openGrants(tx: Kysely<DB> | Transaction<DB>, subject: string, now: Date, lock: boolean): Promise<GrantView[]> {
  let q = tx.selectFrom('grants').selectAll().where('subject', '=', subject).where('state', 'in', OPEN).where('ends_at', '>', now);
  if (lock) q = q.orderBy('id').forUpdate();
  return (await q.execute()).map(grantView);
}

/** Any active grant that lets the subject change something in the repository. */
function writeGrant(grants: GrantView[], kind: RepoKind, repo: string, now: Date): GrantView | undefined {
  const writes = ACTIONS[kind].filter((a) => a !== 'read');
  return grants.find(
    (g) =>
      effectiveGrantState(g, now) === 'active' &&
      g.actions.some((a) => writes.includes(a)) &&
      g.resources.some((r) => r.kind === kind && globMatch(r.name, repo)),
  );
}

/**
 * Reading needs `read` on the repository; writing needs a grant to change some
 * part of it (the hook then decides each change). A repository that is not
 * managed, or not on disk (`exists: false`), gets the same answer as a missing grant.
 */
export async function authorizeRepo(
  ctx: AppContext,
  input: {
    kind: RepoKind;
    subject: string;
    /** the subject, already known to be active (the owner of the token that authenticated the request) */
    identity?: Identity | undefined;
    repo: string;
    write: boolean;
    transport: Transport;
    exists: boolean;
    /** audit an allowed answer too (denials are audited, and a refused read filed where the policy says, unless `quiet`) */
    audit: boolean;
    /** a question asked only to set up a session (may it also write?), not an attempt: no event */
    quiet?: boolean;
    /**
     * For a push: a reader reaches the server-side hook too, which decides each change
     * and, refusing, names it, says the exact command to ask and files where the policy
     * says so. Without a read grant the push is refused here, as if the repository did
     * not exist.
     */
    orRead?: boolean;
    details?: Record<string, unknown>;
  },
): Promise<RepoAccess> {
  const now = ctx.clock.now();
  const resource: Resource = { kind: input.kind, name: input.repo };
  // Plain queries (each a consistent snapshot), and a transaction only to append the
  // audit event: every wire-protocol request of a clone or push asks this.
  const who = input.identity?.name === input.subject ? input.identity : await activeIdentity(ctx, ctx.db, input.subject);
  const known = who !== undefined && input.exists && isManagedRepo(ctx, input.kind, input.repo);
  const grants = known ? await openGrants(ctx.db, input.subject, now, false) : [];
  const readGrant = (): string | null => {
    const d = decide(grants, { subject: input.subject, action: 'read', resource }, now);
    return d.allow ? d.grantId : null;
  };
  const grantId = !input.write ? readGrant() : (writeGrant(grants, input.kind, input.repo, now)?.id ?? (input.orRead ? readGrant() : null));
  const allow = grantId !== null;
  if (input.audit || (!allow && !input.quiet)) {
    const event: AuditInput = {
      type: input.write ? `${input.kind}.push` : READ_EVENT[input.kind],
      actor: input.subject,
      subject: input.subject,
      resource: canonicalResource(resource),
      action: input.write ? 'push' : 'read',
      grantId,
      outcome: allow ? 'allow' : 'deny',
      reason: allow ? null : input.write ? 'no active grant to change anything in the repository' : 'no active read grant',
      details: { transport: input.transport, ...input.details, policyVersion: ctx.policyVersion },
    };
    await inTransaction(ctx, (tx) => appendAudit(tx, now, [event]));
  }
  if (grantId !== null) return { allow: true, grantId };
  const name = `${input.kind}:${input.repo}`;
  const example = input.write
    ? requestCommand('push', { kind: input.kind, name: input.repo, scope: input.kind === 'git' ? 'BRANCH' : 'BRANCH_OR_@BOOKMARK' })
    : requestCommand('read', resource);
  const lines = [`${input.subject} has no active grant to ${input.write ? `push to ${name}` : `read ${name}`}`, 'ask for one with:', `  ${example}`];
  // Whatever command the refused read was (hg clone stops at its first, `capabilities`).
  // Filing depends on the identity and the configuration only, not on what is on disk,
  // so a missing repository still gets the answer an existing one would.
  if (!input.write && who && !input.quiet) {
    lines.push(...(await fileOnDeny(ctx, who, [{ action: 'read', resource }], `filed by Ajar when reading ${name} (${input.transport}) was refused`)));
  }
  return { allow: false, lines };
}

/** A secret for the server-side hook of one push; only its hash is stored. */
export async function openPushSession(ctx: AppContext, subject: string, kind: RepoKind, repo: string, transport: Transport): Promise<string> {
  const secret = `${SESSION_PREFIX}${randomBytes(24).toString('base64url')}`;
  const now = ctx.clock.now();
  await ctx.db.deleteFrom('push_sessions').where('expires_at', '<=', now).execute();
  await ctx.db
    .insertInto('push_sessions')
    .values({ secret_hash: sha256(secret), subject, repo: `${kind}:${repo}`, transport, created_at: now, expires_at: new Date(now.getTime() + SESSION_TTL_MS) })
    .execute();
  return secret;
}

export function isPushSessionSecret(text: string): boolean {
  return text.startsWith(SESSION_PREFIX) && text.length < 100;
}

/** Who is pushing: from the push session of Ajar's gateway or SSH command, or vouched for by a hook account. */
export type Pusher = { session: string } | { hookAccount: Actor; user: string };

/** One thing a push changes, and what it needs. */
export interface Change {
  /** e.g. `refs/heads/main`, `branch stable`, `bookmark @feature` */
  label: string;
  /** e.g. `fast-forward`, `2 new changesets` */
  what: string;
  action: string;
  /** every one must be covered (a symbolic ref and its target) */
  resources: Resource[];
  /** what the audit event records of it */
  record: Record<string, unknown>;
}

export interface PushDecision {
  allow: boolean;
  lines: string[];
  filed: string[];
  /** with `deferUses`: the uses this push holds until its hook settles them (push-uses.ts) */
  reservation?: string;
}

/** Who a hook speaks for, checked: the pusher, how they came, and who may settle what they hold. */
async function resolvePusher(
  ctx: AppContext,
  pusher: Pusher,
  kind: RepoKind,
  repo: string,
  now: Date,
  consume = false,
): Promise<{ subject: string; transport: Transport; owner: string } | undefined> {
  if ('session' in pusher) {
    const hash = sha256(pusher.session);
    const row = consume
      ? await ctx.db.deleteFrom('push_sessions').where('secret_hash', '=', hash).returningAll().executeTakeFirst()
      : await ctx.db.selectFrom('push_sessions').selectAll().where('secret_hash', '=', hash).executeTakeFirst();
    if (!row || new Date(row.expires_at) <= now || row.repo !== `${kind}:${repo}`) return undefined;
    return { subject: row.subject, transport: row.transport as Transport, owner: `session:${hash}` };
  }
  if (!ctx.config[kind].hookAccounts.includes(pusher.hookAccount.name)) {
    throw new AppError('permission_denied', `${pusher.hookAccount.name} is not a hook account (config ${kind}.hook_accounts)`);
  }
  return { subject: pusher.user, transport: 'hook', owner: `hook:${pusher.hookAccount.name}` };
}

const NO_SESSION = 'this push has no valid Ajar session; push again';

/** The hook's word on what an allowed push held: it committed, or it did not. */
export async function settlePush(ctx: AppContext, pusher: Pusher, input: { kind: RepoKind; repo: string; reservation: string; committed: boolean }): Promise<{ settled: number }> {
  const who = await resolvePusher(ctx, pusher, input.kind, input.repo, ctx.clock.now());
  if (!who) throw new AppError('permission_denied', NO_SESSION);
  return settleUses(ctx, { owner: who.owner, reservation: input.reservation, committed: input.committed, resource: `${input.kind}:${input.repo}` });
}

/**
 * The authority on a push: every change must be covered, at this moment, by an
 * active grant for the action it needs, or the whole push is refused. Use-bound
 * grants count one use per push they allow: at once, or (`deferUses`) when the
 * hook settles the reservation after the commit. `check`: a question before the
 * change is made (Mercurial's prepushkey), decided again when it is: a refusal
 * is audited and filed, an allowance neither recorded nor counted.
 */
export async function decideChanges(
  ctx: AppContext,
  pusher: Pusher,
  input: {
    kind: RepoKind;
    repo: string;
    changes: Change[];
    problems: string[];
    recordKey: string;
    check?: boolean;
    deferUses?: boolean;
    /** the push session answers this one question (git runs pre-receive once per push) */
    consumeSession?: boolean;
  },
): Promise<PushDecision> {
  const { kind, repo } = input;
  const now = ctx.clock.now();
  const caller = await resolvePusher(ctx, pusher, kind, repo, now, input.consumeSession);
  if (!caller) return { allow: false, lines: [NO_SESSION], filed: [] };
  const { subject, transport } = caller;
  const problems = [...input.problems];
  if (input.changes.length === 0 && problems.length === 0) problems.push('the push changes nothing Ajar can check');

  const result = await inTransaction(ctx, async (tx) => {
    const who = problems.length === 0 ? await activeIdentity(ctx, tx, subject) : undefined;
    const known = who !== undefined && isManagedRepo(ctx, kind, repo);
    const events: AuditInput[] = [];
    const locked = known ? await openGrants(tx, subject, now, true) : [];
    const grants = input.deferUses ? await withHeldUses(tx, locked, now, `${kind}:${repo}`, events) : locked;
    const decided: (Change & { grantId: string | null; reason: string | null })[] = [];
    const missing: { action: string; resource: Resource }[] = [];
    for (const c of input.changes) {
      let grantId: string | null = null;
      let reason: string | null = null;
      for (const resource of c.resources) {
        const d = decide(grants, { subject, action: c.action, resource }, now);
        if (d.allow) grantId ??= d.grantId;
        else {
          grantId = null;
          reason = `no active grant for ${c.action} on ${canonicalResource(resource)}`;
          missing.push({ action: c.action, resource });
          break;
        }
      }
      decided.push({ ...c, grantId, reason });
    }
    const allow = problems.length === 0 && known && decided.every((c) => c.grantId !== null);
    const lines: string[] = [];
    let reservation: string | undefined;
    if (allow && input.check) {
      // Decided again when the change is made; nothing to record or count yet.
      if (events.length > 0) await appendAudit(tx, now, events);
      return { allow, lines, missing: [], who, reservation };
    } else if (allow) {
      // One use per push of each use-bound grant it relied on.
      const bound = [...new Set(decided.map((c) => c.grantId!))].map((id) => grants.find((x) => x.id === id)!).filter((g) => g.maxUses !== null);
      if (input.deferUses && bound.length > 0) {
        reservation = await reserveUses(tx, bound.map((g) => g.id), caller.owner, now);
        for (const g of bound) {
          const left = g.maxUses! - g.uses - 1;
          lines.push(`grant ${g.id}: ${left === 0 ? 'this push takes its last use; the grant ends when the push lands' : `${left} use(s) left after this push`}`);
        }
      } else {
        for (const g of bound) {
          const counted = await addUses(tx, g, 1, now, `${kind}:${repo}`);
          events.push(...counted.events);
          lines.push(`grant ${g.id}: ${counted.consumed ? 'its last use is this push; it has ended' : `${g.maxUses! - counted.uses} use(s) left`}`);
        }
      }
      lines.unshift(`push to ${repo} allowed for ${subject}: ${decided.map((c) => `${c.label} (${c.action}, ${c.grantId})`).join(', ')}`);
    } else if (problems.length > 0) {
      lines.push(`push to ${repo} refused:`, ...problems.map((p) => `  ${p}`));
    } else {
      const denied = decided.filter((c) => c.grantId === null);
      lines.push(`push to ${repo} refused for ${subject}: ${known ? denied.length : decided.length} of ${decided.length} change(s) not covered by an active grant`);
      for (const c of decided) lines.push(`  ${c.label}: ${c.what} needs ${c.action}; ${known && c.grantId ? `allowed by ${c.grantId}` : (c.reason ?? 'no active grant')}`);
      lines.push('the whole push is refused; ask for access with:');
      for (const m of dedupe(missing)) lines.push(`  ${requestCommand(m.action, m.resource)}`);
    }
    events.unshift({
      type: `${kind}.push`,
      actor: 'session' in pusher ? subject : pusher.hookAccount.name,
      subject,
      resource: `${kind}:${repo}`,
      action: [...new Set(decided.map((c) => c.action))].join(' '),
      grantId: allow ? (decided[0]?.grantId ?? null) : null,
      outcome: allow ? 'allow' : 'deny',
      reason: allow ? null : (problems[0] ?? decided.find((c) => c.reason)?.reason ?? 'refused'),
      details: { transport, [input.recordKey]: decided.map((c) => ({ ...c.record, action: c.action, grantId: c.grantId })), policyVersion: ctx.policyVersion },
    });
    await appendAudit(tx, now, events);
    return { allow, lines, missing: known ? missing : [], who, reservation };
  });
  const filed = result.allow || !result.who ? [] : await fileOnDeny(ctx, result.who, result.missing, `filed by Ajar when a push to ${kind}:${repo} (${transport}) was refused`);
  return { allow: result.allow, lines: [...result.lines, ...filed], filed, ...(result.reservation ? { reservation: result.reservation } : {}) };
}

function dedupe(m: { action: string; resource: Resource }[]) {
  const seen = new Set<string>();
  return m.filter((x) => {
    const k = `${x.action} ${canonicalResource(x.resource)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * "Checking out a protected branch sends a request": where every rule that would
 * allow the missing access says `request_on_deny`, file the request (once: a
 * pending one for the same thing is reused) and say its id.
 */
export async function fileOnDeny(ctx: AppContext, who: Identity, missing: { action: string; resource: Resource }[], reason: string): Promise<string[]> {
  const out: string[] = [];
  const byAction = new Map<string, Resource[]>();
  for (const m of dedupe(missing)) byAction.set(m.action, [...(byAction.get(m.action) ?? []), m.resource]);
  for (const [action, resources] of byAction) {
    const ev = evaluateRequest(ctx.config.policy, who, resources, [action], { onCall: onCallNow(ctx) });
    if (!ev.eligible) continue;
    const rules = ctx.config.policy.rules.filter((r) => ev.plan.rules.includes(r.name));
    if (!rules.every((r) => r.requestOnDeny)) continue;
    const texts = resources.map(canonicalResource);
    const now = ctx.clock.now();
    const pending = await ctx.db
      .selectFrom('access_requests')
      .select(['id', 'resources', 'actions'])
      .where('requester', '=', who.name)
      .where('state', '=', 'pending')
      .where('expires_at', '>', now)
      .execute();
    const same = pending.find((p) => sameSet(jsonList(p.resources), texts) && sameSet(jsonList(p.actions), [action]));
    if (same) {
      out.push(`your request ${same.id} for ${action} on ${texts.join(' ')} is waiting for approval`);
      continue;
    }
    try {
      const r = await createRequest(ctx, { ...who, via: 'token' }, { resources: texts, actions: [action], reason });
      out.push(
        r.state === 'approved'
          ? `filed request ${r.id}; the policy approved it at once: try again`
          : `filed request ${r.id} for ${action} on ${texts.join(' ')}; it waits for approval (ajar requests ${r.id})`,
      );
    } catch (e) {
      // The policy asks for what only a person can give (a ticket, a field): they ask themselves.
      if (!(e instanceof AppError)) throw e;
    }
  }
  return out;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

// Git access through Ajar: may this person fetch from or push to this
// repository (asked by the HTTP gateway and the SSH command), and — the
// authority — may this push update these refs (asked by the pre-receive hook).
// Every answer is audited; a denial says what is missing and how to ask.
import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Identity } from '../config.js';
import { decide, requestCommand } from '../domain/decide.js';
import { AppError } from '../domain/errors.js';
import { classifyRefUpdate, GIT_WRITE_ACTIONS, KIND_ACTION, OID, REF_UPDATE_KINDS, type RefUpdateKind, refProblem, refResource } from '../domain/git.js';
import { globMatch } from '../domain/glob.js';
import { effectiveGrantState, type GrantView } from '../domain/grant.js';
import { canonicalResource, type Resource } from '../domain/resource.js';
import { evaluateRequest } from '../policy/policy.js';
import type { DB } from '../store/schema.js';
import { type AuditInput, appendAudit } from './audit-log.js';
import { type Actor, type AppContext, activeIdentity, inTransaction, sha256 } from './context.js';
import { createRequest, jsonList } from './requests.js';
import { grantView } from './views.js';

export type GitService = 'git-upload-pack' | 'git-receive-pack';
export type GitTransport = 'http' | 'ssh' | 'hook';

export type GitAccess = { allow: true; grantId: string | null } | { allow: false; lines: string[] };

const SESSION_PREFIX = 'ajps_';
const SESSION_TTL_MS = 6 * 3600 * 1000;
const OPEN = ['scheduled', 'active'];

/** A Git repository Ajar manages: a configured `git:<name>` resource. */
export function isManagedRepo(ctx: AppContext, name: string): boolean {
  return ctx.config.resources.some((c) => c.resource.kind === 'git' && c.resource.name === name && c.resource.scope === undefined);
}

async function openGrants(tx: Transaction<DB>, subject: string, now: Date, lock: boolean): Promise<GrantView[]> {
  let q = tx.selectFrom('grants').selectAll().where('subject', '=', subject).where('state', 'in', OPEN).where('ends_at', '>', now);
  if (lock) q = q.orderBy('id').forUpdate();
  return (await q.execute()).map(grantView);
}

/** Any active grant that lets the subject write some ref of the repository. */
function writeGrant(grants: GrantView[], repo: string, now: Date): GrantView | undefined {
  return grants.find(
    (g) =>
      effectiveGrantState(g, now) === 'active' &&
      g.actions.some((a) => (GIT_WRITE_ACTIONS as readonly string[]).includes(a)) &&
      g.resources.some((r) => r.kind === 'git' && globMatch(r.name, repo)),
  );
}

/**
 * Fetch (`git-upload-pack`) needs `read` on the repository; the receive-pack
 * service needs a grant to write some ref of it (the hook then decides each ref).
 * A repository that is not managed, or not on disk (`exists: false`), gets the
 * same answer as a missing grant.
 */
export async function authorizeGit(
  ctx: AppContext,
  input: { subject: string; repo: string; service: GitService; transport: GitTransport; exists: boolean; audit: boolean },
): Promise<GitAccess> {
  const now = ctx.clock.now();
  const resource: Resource = { kind: 'git', name: input.repo };
  const reading = input.service === 'git-upload-pack';
  const result = await inTransaction(ctx, async (tx) => {
    const who = await activeIdentity(ctx, tx, input.subject);
    const known = who !== undefined && input.exists && isManagedRepo(ctx, input.repo);
    const grants = known ? await openGrants(tx, input.subject, now, false) : [];
    let grantId: string | null = null;
    if (reading) {
      const d = decide(grants, { subject: input.subject, action: 'read', resource }, now);
      if (d.allow) grantId = d.grantId;
    } else {
      grantId = writeGrant(grants, input.repo, now)?.id ?? null;
    }
    const allow = grantId !== null;
    if (input.audit || !allow) {
      await appendAudit(tx, now, [
        {
          type: reading ? 'git.fetch' : 'git.push',
          actor: input.subject,
          subject: input.subject,
          resource: canonicalResource(resource),
          action: reading ? 'read' : 'push',
          grantId,
          outcome: allow ? 'allow' : 'deny',
          reason: allow ? null : reading ? 'no active read grant' : 'no active grant to write any ref of the repository',
          details: { transport: input.transport, service: input.service },
        },
      ]);
    }
    return { grantId, who: known ? who : undefined };
  });
  if (result.grantId !== null) return { allow: true, grantId: result.grantId };
  const what = reading ? `read git:${input.repo}` : `push to git:${input.repo}`;
  const example = reading ? requestCommand('read', resource) : requestCommand('push', { kind: 'git', name: input.repo, scope: 'BRANCH' });
  const lines = [`${input.subject} has no active grant to ${what}`, 'ask for one with:', `  ${example}`];
  if (reading && result.who && input.audit) {
    lines.push(...(await fileOnDeny(ctx, result.who, [{ action: 'read', resource }], `filed by Ajar when a fetch of ${input.repo} (${input.transport}) was refused`)));
  }
  return { allow: false, lines };
}

/** A secret for the pre-receive hook of one push; only its hash is stored. */
export async function openPushSession(ctx: AppContext, subject: string, repo: string, transport: GitTransport): Promise<string> {
  const secret = `${SESSION_PREFIX}${randomBytes(24).toString('base64url')}`;
  const now = ctx.clock.now();
  await ctx.db.deleteFrom('push_sessions').where('expires_at', '<=', now).execute();
  await ctx.db
    .insertInto('push_sessions')
    .values({ secret_hash: sha256(secret), subject, repo, transport, created_at: now, expires_at: new Date(now.getTime() + SESSION_TTL_MS) })
    .execute();
  return secret;
}

export function isPushSessionSecret(text: string): boolean {
  return text.startsWith(SESSION_PREFIX) && text.length < 100;
}

export interface RefUpdate {
  ref: string;
  old: string;
  new: string;
  kind: RefUpdateKind;
  /** where a symbolic ref points: the update lands there */
  target?: string | undefined;
}

export interface PushDecision {
  allow: boolean;
  lines: string[];
  filed: string[];
}

/** Who is pushing: from the push session of Ajar's gateway or SSH command, or vouched for by a hook account. */
export type Pusher = { session: string } | { hookAccount: Actor; user: string };

/**
 * The authority on a push: every updated ref must be covered, at this moment,
 * by an active grant for the action its update needs, or the whole push is
 * refused. Use-bound grants count one use per push they allow.
 */
export async function decidePush(ctx: AppContext, pusher: Pusher, input: { repo: string; updates: RefUpdate[] }): Promise<PushDecision> {
  const now = ctx.clock.now();
  let subject: string;
  let transport: GitTransport;
  if ('session' in pusher) {
    const row = await ctx.db.selectFrom('push_sessions').selectAll().where('secret_hash', '=', sha256(pusher.session)).executeTakeFirst();
    if (!row || new Date(row.expires_at) <= now || row.repo !== input.repo) {
      return { allow: false, lines: ['this push has no valid Ajar session; push again'], filed: [] };
    }
    subject = row.subject;
    transport = row.transport as GitTransport;
  } else {
    if (!ctx.config.git.hookAccounts.includes(pusher.hookAccount.name)) {
      throw new AppError('permission_denied', `${pusher.hookAccount.name} is not a hook account (config git.hook_accounts)`);
    }
    subject = pusher.user;
    transport = 'hook';
  }
  const problems = input.updates.map(updateProblem).filter((p): p is string => p !== undefined);
  if (input.updates.length === 0 || input.updates.length > 10_000) problems.push('a push updates between 1 and 10000 refs');

  const result = await inTransaction(ctx, async (tx) => {
    const who = problems.length === 0 ? await activeIdentity(ctx, tx, subject) : undefined;
    const known = who !== undefined && isManagedRepo(ctx, input.repo);
    const grants = known ? await openGrants(tx, subject, now, true) : [];
    const refs: { ref: string; target: string | null; old: string; new: string; kind: RefUpdateKind; action: string; grantId: string | null; reason: string | null }[] = [];
    const missing: { action: string; resource: Resource }[] = [];
    for (const u of input.updates) {
      const action = KIND_ACTION[u.kind] ?? 'force-push';
      let grantId: string | null = null;
      let reason: string | null = null;
      // A symbolic ref updates its target: both names must be covered.
      for (const name of u.target && u.target !== u.ref ? [u.ref, u.target] : [u.ref]) {
        const resource = refResource(input.repo, name);
        const d = decide(grants, { subject, action, resource }, now);
        if (d.allow) grantId ??= d.grantId;
        else {
          grantId = null;
          reason = `no active grant for ${action} on ${canonicalResource(resource)}`;
          missing.push({ action, resource });
          break;
        }
      }
      refs.push({ ref: u.ref, target: u.target ?? null, old: u.old, new: u.new, kind: u.kind, action, grantId, reason });
    }
    const allow = problems.length === 0 && known && refs.every((r) => r.grantId !== null);
    const events: AuditInput[] = [];
    const lines: string[] = [];
    if (allow) {
      // One use per push of each use-bound grant it relied on.
      for (const id of new Set(refs.map((r) => r.grantId!))) {
        const g = grants.find((x) => x.id === id)!;
        if (g.maxUses === null) continue;
        const uses = g.uses + 1;
        const consumed = uses >= g.maxUses;
        await tx.updateTable('grants').set({ uses, ...(consumed ? { state: 'consumed', ended_at: now, ended_by: 'ajar', end_reason: 'all uses consumed' } : {}) }).where('id', '=', id).execute();
        if (consumed) events.push({ type: 'grant.consumed', actor: 'ajar', subject, grantId: id, resource: `git:${input.repo}`, action: 'push' });
        lines.push(`grant ${id}: ${consumed ? 'its last use is this push; it has ended' : `${g.maxUses - uses} use(s) left`}`);
      }
      lines.unshift(`push to ${input.repo} allowed for ${subject}: ${refs.map((r) => `${r.ref} (${r.action}, ${r.grantId})`).join(', ')}`);
    } else if (problems.length > 0) {
      lines.push(`push to ${input.repo} refused:`, ...problems.map((p) => `  ${p}`));
    } else {
      const denied = refs.filter((r) => r.grantId === null);
      lines.push(`push to ${input.repo} refused for ${subject}: ${known ? denied.length : refs.length} of ${refs.length} ref(s) not covered by an active grant`);
      for (const r of refs) lines.push(`  ${r.ref}: ${kindText(r.kind)} needs ${r.action}; ${known && r.grantId ? `allowed by ${r.grantId}` : (r.reason ?? 'no active grant')}`);
      lines.push('the whole push is refused; ask for access with:');
      for (const m of dedupe(missing)) lines.push(`  ${requestCommand(m.action, m.resource)}`);
    }
    events.unshift({
      type: 'git.push',
      actor: 'session' in pusher ? subject : pusher.hookAccount.name,
      subject,
      resource: `git:${input.repo}`,
      action: [...new Set(refs.map((r) => r.action))].join(' '),
      grantId: allow ? refs[0]!.grantId : null,
      outcome: allow ? 'allow' : 'deny',
      reason: allow ? null : (problems[0] ?? refs.find((r) => r.reason)?.reason ?? 'refused'),
      details: { transport, refs: refs.map(({ reason: _r, ...r }) => r) },
    });
    await appendAudit(tx, now, events);
    return { allow, lines, missing: known ? missing : [], who };
  });
  const filed = result.allow || !result.who ? [] : await fileOnDeny(ctx, result.who, result.missing, `filed by Ajar when a push to ${input.repo} (${transport}) was refused`);
  for (const f of filed) result.lines.push(f);
  return { allow: result.allow, lines: result.lines, filed: filed };
}

function updateProblem(u: RefUpdate): string | undefined {
  if (typeof u !== 'object' || u === null || typeof u.ref !== 'string') return 'an update has no ref';
  const bad = refProblem(u.ref) ?? (u.target !== undefined ? refProblem(String(u.target)) : undefined);
  if (bad) return `${JSON.stringify(u.ref).slice(0, 120)}: ${bad}`;
  if (!OID.test(u.old) || !OID.test(u.new)) return `${u.ref}: not an object id`;
  if (!(REF_UPDATE_KINDS as readonly string[]).includes(u.kind)) return `${u.ref}: unknown update kind`;
  // The hook classifies; the server checks the classification is possible at all.
  const plain = classifyRefUpdate(u.old, u.new, u.ref, true);
  if (plain !== u.kind && !(plain === 'update' && u.kind === 'force')) return `${u.ref}: update kind ${u.kind} does not fit ${u.old}..${u.new}`;
  return undefined;
}

function kindText(k: RefUpdateKind): string {
  return { create: 'create', update: 'fast-forward', force: 'non-fast-forward (force)', delete: 'delete', 'tag-create': 'create tag', 'tag-move': 'move tag' }[k];
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
    const ev = evaluateRequest(ctx.config.policy, who, resources, [action]);
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
      const r = await createRequest(ctx, { ...who, via: 'token' }, {
        resources: texts,
        actions: [action],
        reason,
      });
      out.push(
        r.state === 'approved'
          ? `filed request ${r.id}; the policy approved it at once: try again`
          : `filed request ${r.id} for ${action} on ${texts.join(' ')}; it waits for approval (ajar requests --mine)`,
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

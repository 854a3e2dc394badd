// Block rules always win — also over grants approved before the rule existed.
// When the policy changes (a reload, or a start with a new file), open grants a
// block rule now covers are revoked, in one transaction with their audit events.
// The sweep calls this; it works once per policy version and retries until it
// succeeds (the database may be down when the policy changes).
import { canonicalResource, parseResource } from '../domain/resource.js';
import { blockingRule } from '../policy/policy.js';
import { appendAudit, type AuditInput } from './audit-log.js';
import { type AppContext, inTransaction } from './context.js';
import { endGrants, OPEN } from './grants.js';
import { jsonList, onCallNow } from './requests.js';

const enforced = new WeakMap<AppContext, string>();

/** Revoke the open grants the running policy's block rules cover; returns how many. */
export async function enforceBlockRules(ctx: AppContext): Promise<number> {
  const version = ctx.policyVersion;
  if (enforced.get(ctx) === version) return 0;
  const policy = ctx.config.policy;
  if (!policy.rules.some((r) => r.effect === 'block')) {
    enforced.set(ctx, version);
    return 0;
  }
  const now = ctx.clock.now();
  const onCall = onCallNow(ctx);
  const revoked = await inTransaction(ctx, async (tx) => {
    const open = await tx.selectFrom('grants').selectAll().where('state', 'in', OPEN).where('ends_at', '>', now).execute();
    const hits = new Map<string, string>();
    for (const g of open) {
      const who = ctx.config.identities.get(g.subject);
      if (!who) continue; // gone from the config: no decision allows it (offboarding revokes it)
      for (const text of jsonList(g.resources)) {
        const r = parseResource(text);
        if (!r.ok) continue;
        for (const action of jsonList(g.actions)) {
          const rule = blockingRule(policy, who, action, r.value, onCall);
          if (rule && !hits.has(g.id)) hits.set(g.id, `rule ${rule.name} now blocks ${who.name} from ${action} on ${canonicalResource(r.value)}`);
        }
      }
    }
    if (hits.size === 0) return 0;
    const locked = await tx.selectFrom('grants').selectAll().where('id', 'in', [...hits.keys()]).orderBy('id').forUpdate().execute();
    const events: AuditInput[] = [];
    for (const g of locked) events.push(...(await endGrants(tx, [g], 'revoked', 'policy', hits.get(g.id)!, now)));
    for (const e of events) e.details = { ...e.details, policyVersion: version };
    await appendAudit(tx, now, events);
    return events.length;
  });
  enforced.set(ctx, version);
  if (revoked) ctx.log.info({ revoked, policyVersion: version }, 'grants a block rule now covers were revoked');
  return revoked;
}

// Who is told about an event: the approvers who can act now, the escalation
// tier, the requester, the admins. Read from the request and the config.
import type { Transaction } from 'kysely';
import type { Identity } from '../config.js';
import { type AppContext, activeIdentity } from '../app/context.js';
import { approvalsOf, onCallNow, planOf } from '../app/requests.js';
import type { RequestRow } from '../app/views.js';
import { canApproveStage, currentStage, isEscalated } from '../policy/policy.js';
import type { DB } from '../store/schema.js';

async function active(ctx: AppContext, tx: Transaction<DB>, ids: Identity[]): Promise<Identity[]> {
  const out: Identity[] = [];
  for (const id of ids) if (id.kind !== 'workload' && (await activeIdentity(ctx, tx, id.name))) out.push(id);
  return out;
}

/** People who could approve the request's current stage now and have not reviewed it yet (never the requester). */
export async function approversNow(ctx: AppContext, tx: Transaction<DB>, r: RequestRow, now: Date): Promise<Identity[]> {
  const plan = planOf(r);
  const rows = await tx.selectFrom('request_reviews').selectAll().where('request_id', '=', r.id).execute();
  const reviews = approvalsOf(ctx, rows);
  const stage = currentStage(plan.stages, reviews);
  if (stage < 0) return [];
  const reviewed = new Set(rows.map((x) => x.reviewer));
  const escalated = isEscalated(plan.stages, reviews, stage, new Date(r.created_at), now);
  const onCall = onCallNow(ctx);
  const s = plan.stages[stage]!;
  return active(
    ctx,
    tx,
    [...ctx.config.identities.values()].filter((id) => id.name !== r.requester && !reviewed.has(id.name) && canApproveStage(s, id, onCall, escalated)),
  );
}

/** An escalation tier of a stage (who may now decide too); tiers count from 0. */
export async function escalationTier(ctx: AppContext, tx: Transaction<DB>, r: RequestRow, stage: number, index = 0): Promise<Identity[]> {
  const tier = planOf(r).stages[stage]?.escalate?.[index];
  if (!tier) return [];
  return active(
    ctx,
    tx,
    [...ctx.config.identities.values()].filter((id) => id.name !== r.requester && (tier.users.includes(id.name) || tier.groups.some((g) => id.groups.includes(g)))),
  );
}

export async function admins(ctx: AppContext, tx: Transaction<DB>, except: string): Promise<Identity[]> {
  return active(
    ctx,
    tx,
    [...ctx.config.identities.values()].filter((id) => id.admin && id.name !== except),
  );
}

export async function person(ctx: AppContext, tx: Transaction<DB>, name: string): Promise<Identity | undefined> {
  const id = ctx.config.identities.get(name);
  return id && id.kind !== 'workload' && (await activeIdentity(ctx, tx, name)) ? id : undefined;
}

/** A request that the policy decided when it was filed needs no reviewers told. */
export function decidedAtFiling(r: RequestRow): boolean {
  const plan = planOf(r);
  return plan.auto || plan.automatic?.decision !== undefined;
}

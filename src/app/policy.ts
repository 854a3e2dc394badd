// Policy questions answered without filing anything.
import { type Config, ConfigError, type Identity, parseConfig } from '../config.js';
import { parseDuration } from '../domain/duration.js';
import { AppError, badInput, notFound } from '../domain/errors.js';
import { type Explanation, explainRequest } from '../policy/explain.js';
import { isPolicyText, readFrom } from '../policy/policy-file.js';
import { type RecordedRequest, type Simulation, simulate } from '../policy/simulate.js';
import { type Actor, type AppContext, activeIdentity, requireAdmin } from './context.js';
import { jsonList, onCallNow, planOf, requestVars, resolveResources } from './requests.js';
import { json } from './views.js';
import { automaticDecision } from '../policy/conditions.js';
import { applyStageConditions } from '../policy/policy.js';

export async function explain(ctx: AppContext, actor: Actor, input: { as?: string | undefined; resources: string[]; actions: string[] }): Promise<Omit<Explanation, 'planStages'> & { policyVersion: string }> {
  const name = input.as ?? actor.name;
  if (name !== actor.name && !actor.admin) throw new AppError('permission_denied', 'you may explain your own access; explaining for others needs an admin');
  if (actor.via === 'local' && !input.as) throw badInput('as: name the user or service account to explain for', { field: 'as' });
  const who = ctx.config.identities.get(name);
  if (!who) throw notFound(`user ${name}`);
  const resources = resolveResources(ctx, input.resources, input.actions);
  const candidates: Identity[] = [];
  for (const i of ctx.config.identities.values()) {
    if (await activeIdentity(ctx, ctx.db, i.name)) candidates.push(i);
  }
  const actions = [...new Set(input.actions)];
  const onCall = onCallNow(ctx);
  const e = explainRequest(ctx.config.policy, who, resources, actions, candidates, { onCall });
  if (e.eligible) {
    // As the rules would apply now, to a request of the default duration.
    const vars = requestVars(ctx, { who, resources, actions, durationSeconds: e.defaultDurationSeconds!, reason: '' }, ctx.clock.now());
    const kept = new Set(applyStageConditions(ctx.config.policy, e.planStages, vars).map((s) => `${s.rule}#${s.ruleStage}`));
    e.stages = e.stages.filter((_s, i) => kept.has(`${e.planStages[i]!.rule}#${e.planStages[i]!.ruleStage}`));
    const auto = automaticDecision(ctx.config.policy.automatic, vars);
    if (auto) e.automatic = auto;
    if (auto?.decision === 'approve' || e.stages.length === 0) {
      e.autoApproved = true;
      e.stages = [];
    }
  }
  const { planStages: _p, ...out } = e;
  return { ...out, policyVersion: ctx.policyVersion };
}

const MAX_REPLAY = 50_000;

export interface SimulateInput {
  /** a whole config, or a policy file (what policy: holds) to try under the running config */
  config: string;
  /** its path, absolute: the files it names are found relative to it */
  name?: string | undefined;
  /** the files it names (policy_file, oncall_file) by absolute path; the server reads none of its own */
  files?: Record<string, string> | undefined;
  since: string;
  until?: string | undefined;
}

/** Replay the requests recorded in [since, until) under the config or policy file given. */
export async function simulatePolicy(ctx: AppContext, actor: Actor, input: SimulateInput): Promise<Simulation & { since: string; until: string; replayed: 'config' | 'policy' }> {
  requireAdmin(actor);
  const now = ctx.clock.now();
  // A duration means "that long before now", on the server's clock.
  const when = (v: string) => {
    const d = parseDuration(v);
    return d.ok ? new Date(now.getTime() - d.value * 1000) : new Date(v);
  };
  const since = when(input.since);
  const until = input.until ? when(input.until) : now;
  if (Number.isNaN(since.getTime())) throw badInput('since: not a time; use ISO 8601 or a duration like 30d', { field: 'since' });
  if (Number.isNaN(until.getTime())) throw badInput('until: not a time; use ISO 8601 or a duration like 1d', { field: 'until' });
  const replayed = isPolicyText(input.config) ? 'policy' : 'config';
  const next = newConfig(ctx, input, replayed);
  const rows = await ctx.db
    .selectFrom('access_requests')
    .selectAll()
    .where('created_at', '>=', since)
    .where('created_at', '<', until)
    .where('extends_grant_id', 'is', null)
    .orderBy('created_at')
    .limit(MAX_REPLAY + 1)
    .execute();
  if (rows.length > MAX_REPLAY) throw badInput(`since: more than ${MAX_REPLAY} requests in the period; choose a shorter one`, { field: 'since' });
  // An approver's narrowing rewrites the row; the request as asked is in its first request.narrowed event.
  const asked = new Map<string, { durationSeconds: number; actions: string[]; resources: string[] }>();
  const narrowed = await ctx.db.selectFrom('audit_events').select(['request_id', 'details']).where('type', '=', 'request.narrowed').where('at', '>=', since).orderBy('seq').execute();
  for (const e of narrowed) {
    const from = json<{ from?: { durationSeconds: number; actions: string[]; resources: string[] } }>(e.details).from;
    if (e.request_id && from && !asked.has(e.request_id)) asked.set(e.request_id, from);
  }
  const recorded: RecordedRequest[] = rows.map((r) => {
    const a = asked.get(r.id);
    return {
      id: r.id,
      requester: r.requester,
      resources: a?.resources ?? jsonList(r.resources),
      actions: a?.actions ?? jsonList(r.actions),
      durationSeconds: a?.durationSeconds ?? r.duration_seconds,
      state: r.state,
      plan: planOf(r),
      createdAt: new Date(r.created_at).toISOString(),
      reason: r.reason,
      ticket: r.ticket,
      fields: json<Record<string, string> | null>(r.fields) ?? {},
    };
  });
  return { ...simulate(next, recorded), since: since.toISOString(), until: until.toISOString(), replayed };
}

/** The config to replay under: the one given, or the running one with the policy file given. */
function newConfig(ctx: AppContext, input: SimulateInput, replayed: 'config' | 'policy'): Config {
  const name = input.name ?? 'new policy';
  const read = readFrom(input.files ?? {});
  try {
    if (replayed === 'config') return parseConfig(input.config, name, { read });
    if (ctx.config.source === undefined) throw new Error('the running config keeps no source text to replay a policy file under');
    return parseConfig(ctx.config.source, ctx.config.file, { read, policy: { text: input.config, file: name } });
  } catch (e) {
    if (e instanceof ConfigError) throw badInput(`config: the new policy is invalid:\n  ${e.problems.join('\n  ')}`, { field: 'config', problems: e.problems });
    throw e;
  }
}

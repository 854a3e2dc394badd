// Policy questions answered without filing anything.
import { type Config, ConfigError, parseConfig } from '../config.js';
import { parseDuration } from '../domain/duration.js';
import { AppError, badInput, notFound } from '../domain/errors.js';
import { explainFiling, type FilingExplanation } from '../policy/explain.js';
import { isPolicyText, readFrom } from '../policy/policy-file.js';
import { type RecordedRequest, type RefusedRequest, type Simulation, simulate } from '../policy/simulate.js';
import { type Actor, type AppContext, activeIdentities, policyVersion, requireAdmin } from './context.js';
import { jsonList, planOf, resolveResources } from './requests.js';
import { json } from './views.js';

export interface ExplainInput {
  as?: string | undefined;
  resources: string[];
  actions: string[];
  breakGlass?: boolean | undefined;
  duration?: string | undefined;
  ticket?: string | undefined;
  reason?: string | undefined;
  fields?: Record<string, string> | undefined;
  /** answer as of this time (ISO 8601): time conditions and on-call see it; default now */
  at?: string | undefined;
}

export async function explain(ctx: AppContext, actor: Actor, input: ExplainInput): Promise<FilingExplanation & { policyVersion: string }> {
  const name = input.as ?? actor.name;
  if (name !== actor.name && !actor.admin) throw new AppError('permission_denied', 'you may explain your own access; explaining for others needs an admin');
  if (actor.via === 'local' && !input.as) throw badInput('as: name the user or service account to explain for', { field: 'as' });
  const who = ctx.config.identities.get(name);
  if (!who) throw notFound(`user ${name}`);
  const resources = resolveResources(ctx, input.resources, input.actions);
  let durationSeconds: number | undefined;
  if (input.duration !== undefined) {
    const d = parseDuration(input.duration);
    if (!d.ok) throw badInput(`duration: ${d.error}`, { field: 'duration' });
    durationSeconds = d.value;
  }
  const at = input.at === undefined ? ctx.clock.now() : new Date(input.at);
  if (Number.isNaN(at.getTime())) throw badInput('at: not a time; use ISO 8601, e.g. 2026-12-01T20:00:00Z', { field: 'at' });
  const candidates = await activeIdentities(ctx, ctx.db);
  const e = explainFiling(
    ctx.config,
    { who, resources, actions: [...new Set(input.actions)], at, breakGlass: input.breakGlass, durationSeconds, ticket: input.ticket, reason: input.reason, fields: input.fields },
    candidates,
  );
  return { ...e, policyVersion: ctx.policyVersion };
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
export async function simulatePolicy(ctx: AppContext, actor: Actor, input: SimulateInput): Promise<Simulation & { since: string; until: string; replayed: 'config' | 'policy'; policyVersion: string }> {
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
  // Requests the policy refused when they were asked (request.refused), as asked.
  const refusedEvents = await ctx.db
    .selectFrom('audit_events')
    .select(['id', 'at', 'actor', 'reason', 'details'])
    .where('type', '=', 'request.refused')
    .where('at', '>=', since)
    .where('at', '<', until)
    .where('grant_id', 'is', null)
    .orderBy('seq')
    .limit(MAX_REPLAY)
    .execute();
  const refused: RefusedRequest[] = refusedEvents.map((e) => {
    const d = json<{ resources: string[]; actions: string[]; duration: string | null; ticket: string | null; fields: Record<string, string>; breakGlass: boolean; refusal: string }>(e.details);
    const asked = d.duration === null ? undefined : parseDuration(d.duration);
    return {
      id: e.id,
      requester: e.actor,
      resources: d.resources,
      actions: d.actions,
      durationSeconds: asked?.ok ? asked.value : null,
      createdAt: new Date(e.at).toISOString(),
      reason: e.reason ?? '',
      ticket: d.ticket,
      fields: d.fields ?? {},
      breakGlass: d.breakGlass === true,
      refusal: d.refusal,
    };
  });
  return { ...simulate(next, recorded, refused), since: since.toISOString(), until: until.toISOString(), replayed, policyVersion: policyVersion(next) };
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

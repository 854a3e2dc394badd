// Automatic decisions: CEL conditions over the request, the requester, the
// resources' labels and the time in the policy's time zone. Expressions are
// type-checked when the policy loads, so a typo or an unknown field is a load
// error, never a surprise at request time. A deny rule beats an approve rule.
import { type ASTNode, Environment } from '@marcbachmann/cel-js';
import type { Identity } from '../config.js';
import type { Resource } from '../domain/resource.js';

export interface AutomaticRule {
  name: string;
  decision: 'approve' | 'deny';
  when: string;
  reason: string | null;
  test: (vars: ConditionVars) => boolean;
}

export interface ConditionVars {
  request: { actions: string[]; resources: string[]; duration_seconds: bigint; ticket: string; reason: string; fields: Record<string, string> };
  requester: { name: string; kind: string; groups: string[]; attributes: Record<string, string> };
  resources: { kind: string; name: string; scope: string; labels: Record<string, string> }[];
  time: { hour: bigint; minute: bigint; weekday: bigint; date: string; timezone: string };
  /** who is on call in each rotation now */
  oncall: Record<string, string[]>;
}

const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 50, maxListElements: 200, maxMapEntries: 200, maxCallArguments: 16 } })
  .registerType('Resource', { fields: { kind: 'string', name: 'string', scope: 'string', labels: 'map<string, string>' } })
  .registerVariable({
    name: 'request',
    schema: { actions: 'list<string>', resources: 'list<string>', duration_seconds: 'int', ticket: 'string', reason: 'string', fields: 'map<string, string>' },
  })
  .registerVariable({ name: 'requester', schema: { name: 'string', kind: 'string', groups: 'list<string>', attributes: 'map<string, string>' } })
  .registerVariable('resources', 'list<Resource>')
  .registerVariable({ name: 'time', schema: { hour: 'int', minute: 'int', weekday: 'int', date: 'string', timezone: 'string' } })
  .registerVariable('oncall', 'map<string, list<string>>');

/**
 * Compile and type-check a condition; a string is the problem to report. Beyond
 * types, literals the checker cannot judge are checked too: a rotation named in
 * `oncall["..."]` must be in the schedule, a `matches("...")` pattern must compile.
 */
export function compileCondition(expr: string, opts: { rotations?: Set<string> | undefined } = {}): ((vars: ConditionVars) => boolean) | string {
  let checked: { valid: boolean; type?: string; error?: { message?: string } };
  try {
    checked = env.check(expr) as typeof checked;
  } catch (e) {
    return firstLine((e as Error).message);
  }
  if (!checked.valid) return firstLine(checked.error?.message ?? 'does not type-check');
  if (checked.type !== 'bool') return `must be a bool expression, but is ${checked.type}`;
  const fn = env.parse(expr);
  const literal = literalProblem(fn.ast, opts.rotations);
  if (literal) return literal;
  return (vars) => fn(vars as unknown as Record<string, unknown>) === true;
}

/** The first literal in the expression that cannot work: an unknown rotation, a bad regular expression. */
function literalProblem(root: ASTNode, rotations: Set<string> | undefined): string | undefined {
  const stack: unknown[] = [root];
  while (stack.length) {
    const n = stack.pop();
    if (Array.isArray(n)) {
      stack.push(...n);
      continue;
    }
    if (!isNode(n)) continue;
    const a = n.args as unknown[];
    if (rotations && (n.op === '[]' || n.op === '[?]' || n.op === '.' || n.op === '.?') && isNode(a[0]) && a[0].op === 'id' && a[0].args === 'oncall') {
      const key = isNode(a[1]) ? (a[1].op === 'value' ? a[1].args : undefined) : a[1];
      if (typeof key === 'string' && !rotations.has(key)) return `oncall["${key}"]: unknown on-call rotation; the schedule has ${[...rotations].join(', ') || 'none'}`;
    }
    if (n.op === 'rcall' && a[0] === 'matches') {
      const [pattern] = a[2] as unknown[];
      if (isNode(pattern) && pattern.op === 'value' && typeof pattern.args === 'string') {
        try {
          new RegExp(pattern.args, 'u');
        } catch {
          return `matches("${pattern.args}"): not a valid regular expression`;
        }
      }
    }
    if (n.op !== 'value' && n.op !== 'id') stack.push(n.args);
  }
  return undefined;
}

const isNode = (x: unknown): x is ASTNode => typeof x === 'object' && x !== null && 'op' in x && 'args' in x;

const firstLine = (s: string) => s.split('\n')[0]!.trim();

// One formatter per zone: building one costs tens of microseconds, more than the rest of an evaluation.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' });
    if (formatters.size > 100) formatters.clear();
    formatters.set(timezone, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatterFor(tz);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock time in a zone (daylight saving included); weekday 1 = Monday … 7 = Sunday. */
export function zonedTime(at: Date, timezone: string): ConditionVars['time'] {
  const parts = Object.fromEntries(
    formatterFor(timezone)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday!) + 1;
  return { hour: BigInt(Number(parts.hour)), minute: BigInt(Number(parts.minute)), weekday: BigInt(weekday), date: `${parts.year}-${parts.month}-${parts.day}`, timezone };
}

export function conditionVars(input: {
  who: Identity;
  resources: Resource[];
  resourceIds: string[];
  labels: (r: Resource) => Record<string, string>;
  actions: string[];
  durationSeconds: number;
  ticket: string | null | undefined;
  reason: string;
  at: Date;
  timezone: string;
  fields?: Record<string, string>;
  oncall?: Record<string, string[]>;
}): ConditionVars {
  return {
    request: { actions: input.actions, resources: input.resourceIds, duration_seconds: BigInt(input.durationSeconds), ticket: input.ticket ?? '', reason: input.reason, fields: input.fields ?? {} },
    requester: { name: input.who.name, kind: input.who.kind, groups: input.who.groups, attributes: input.who.attributes },
    resources: input.resources.map((r) => ({ kind: r.kind, name: r.name, scope: r.scope ?? '', labels: input.labels(r) })),
    time: zonedTime(input.at, input.timezone),
    oncall: input.oncall ?? {},
  };
}

/**
 * The automatic decision, if any: a matching deny rule beats every approve rule.
 * A condition that fails to evaluate (e.g. a label the resource lacks) does not
 * match; if any rule failed, nothing is approved automatically — people decide.
 */
export function automaticDecision(rules: AutomaticRule[], vars: ConditionVars): { decision: 'approve' | 'deny'; rule: string; reason: string | null } | undefined {
  let approve: AutomaticRule | undefined;
  let uncertain = false;
  for (const r of rules) {
    let hit: boolean;
    try {
      hit = r.test(vars);
    } catch {
      uncertain = true;
      continue;
    }
    if (!hit) continue;
    if (r.decision === 'deny') return { decision: 'deny', rule: r.name, reason: r.reason };
    approve ??= r;
  }
  return approve && !uncertain ? { decision: 'approve', rule: approve.name, reason: approve.reason } : undefined;
}

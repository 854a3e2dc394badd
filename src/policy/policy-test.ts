// Policy unit tests written by users in YAML: "given this request at this time
// → this outcome", run offline by `ajar policy test FILE` (in their own CI too).
// Each case is answered by explainFiling, the same code `ajar policy explain`
// uses and that decides as filing does, so a passing test means the server
// would decide the same way.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { type Config, ConfigError, loadConfigFile } from '../config.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { parseResource, type Resource, validateAction } from '../domain/resource.js';
import { type LocatedYaml, parseYamlFile, YamlError, zodProblems } from '../located-yaml.js';
import { explainFiling } from './explain.js';

const testSchema = z.strictObject({
  name: z.string().min(1),
  request: z.strictObject({
    as: z.string().min(1),
    resources: z.array(z.string()).min(1),
    actions: z.array(z.string()).min(1),
    duration: z.string().optional(),
    break_glass: z.boolean().optional(),
    /** when the request is made, for time conditions and on-call (ISO 8601); default now */
    at: z.string().optional(),
    ticket: z.string().min(1).optional(),
    reason: z.string().optional(),
    fields: z.record(z.string(), z.string()).optional(),
  }),
  expect: z.strictObject({
    eligible: z.boolean(),
    /** granted without review: no stage applies, or an automatic rule approves */
    auto: z.boolean().optional(),
    rules: z.array(z.string()).optional(),
    default_duration: z.string().optional(),
    max_duration: z.string().optional(),
    min_duration: z.string().optional(),
    ticket_required: z.boolean().optional(),
    /** the request's ticket is accepted (pattern) */
    ticket_accepted: z.boolean().optional(),
    /** the request's fields are accepted (required ones given, patterns) */
    fields_accepted: z.boolean().optional(),
    max_uses: z.number().int().nullable().optional(),
    /** the request's duration (or the default) is within min and max */
    duration_allowed: z.boolean().optional(),
    approvers: z.array(z.string()).optional(),
    /** how many approval stages apply (after `when` conditions and automatic rules) */
    stages: z.number().int().min(0).optional(),
    /** who can approve the last stage (e.g. who is on call) */
    last_stage_approvers: z.array(z.string()).optional(),
    /** the approval chain can be satisfied by people other than the requester */
    satisfiable: z.boolean().optional(),
    reason_contains: z.string().optional(),
    /** what the CEL automatic rules decide: approve, deny or none */
    automatic: z.enum(['approve', 'deny', 'none']).optional(),
    automatic_rule: z.string().optional(),
  }),
});

const fileSchema = z.strictObject({
  config: z.string().min(1),
  tests: z.array(testSchema).min(1),
});

/** JSON Schema of a policy test file, for editor completion (`ajar policy schema --tests`). */
export function policyTestJsonSchema(): Record<string, unknown> {
  return { ...(z.toJSONSchema(fileSchema, { io: 'input' }) as Record<string, unknown>), title: 'Ajar policy tests (ajar policy test FILE)' };
}

export interface TestOutcome {
  name: string;
  line: number;
  passed: boolean;
  failures: string[];
}

/** Load a test file and run every case against the config it names. */
export function runPolicyTestFile(file: string): { config: string; results: TestOutcome[] } {
  let doc: LocatedYaml;
  try {
    doc = parseYamlFile(readFileSync(file, 'utf8'), file);
  } catch (e) {
    throw e instanceof YamlError ? new ConfigError(e.problems) : e;
  }
  const parsed = fileSchema.safeParse(doc.raw);
  if (!parsed.success) throw new ConfigError(zodProblems(doc, parsed.error));
  const configFile = resolve(dirname(file), parsed.data.config);
  const config = loadConfigFile(configFile);
  const lineOf = (i: number) => Number(doc.at(['tests', i]).split(':')[1] ?? 0);
  return { config: configFile, results: parsed.data.tests.map((t, i) => ({ name: t.name, line: lineOf(i), ...runOne(config, t) })) };
}

type PolicyTest = z.infer<typeof testSchema>;

function runOne(config: Config, t: PolicyTest): { passed: boolean; failures: string[] } {
  const failures: string[] = [];
  const q = t.request;
  const who = config.identities.get(q.as);
  if (!who) return { passed: false, failures: [`request.as: unknown user or service account "${q.as}"`] };
  const resources: Resource[] = [];
  for (const r of q.resources) {
    const p = parseResource(r);
    if (!p.ok) return { passed: false, failures: [`request.resources: ${p.error}`] };
    for (const a of q.actions) {
      const v = validateAction(p.value, a);
      if (!v.ok) return { passed: false, failures: [`request.actions: ${v.error}`] };
    }
    resources.push(p.value);
  }
  const at = q.at ? new Date(q.at) : new Date();
  if (Number.isNaN(at.getTime())) return { passed: false, failures: ['request.at: not a time; use ISO 8601'] };
  let durationSeconds: number | undefined;
  if (q.duration !== undefined) {
    const d = parseDuration(q.duration);
    if (!d.ok) return { passed: false, failures: [`request.duration: ${d.error}`] };
    durationSeconds = d.value;
  }
  const people = [...config.identities.values()].filter((i) => !i.disabled);
  const e = explainFiling(config, { who, resources, actions: q.actions, at, breakGlass: q.break_glass, durationSeconds, ticket: q.ticket, reason: q.reason, fields: q.fields }, people);
  const x = t.expect;
  const differ = (what: string, want: unknown, got: unknown) => {
    if (JSON.stringify(want) !== JSON.stringify(got)) failures.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  };
  differ('eligible', x.eligible, e.eligible);
  if (x.reason_contains !== undefined && !(e.reason ?? '').includes(x.reason_contains)) {
    failures.push(`reason: expected it to contain ${JSON.stringify(x.reason_contains)}, got ${JSON.stringify(e.reason)}`);
  }
  if (e.eligible) {
    if (x.auto !== undefined) differ('auto', x.auto, e.autoApproved);
    if (x.rules !== undefined) differ('rules', x.rules, e.rules);
    if (x.default_duration !== undefined) differ('default_duration', canonical(x.default_duration), formatDuration(e.defaultDurationSeconds!));
    if (x.max_duration !== undefined) differ('max_duration', canonical(x.max_duration), formatDuration(e.maxDurationSeconds!));
    if (x.min_duration !== undefined) differ('min_duration', canonical(x.min_duration), formatDuration(e.minDurationSeconds ?? 0));
    if (x.ticket_required !== undefined) differ('ticket_required', x.ticket_required, e.justification.ticketRequired);
    if (x.max_uses !== undefined) differ('max_uses', x.max_uses, e.maxUses);
    if (x.stages !== undefined) differ('stages', x.stages, e.stages.length);
    if (x.last_stage_approvers !== undefined) differ('last_stage_approvers', [...x.last_stage_approvers].sort(), e.stages.at(-1)?.approvers ?? []);
    if (x.approvers !== undefined) differ('approvers', [...x.approvers].sort(), [...new Set(e.stages.flatMap((s) => s.approvers))].sort());
    if (x.satisfiable !== undefined) differ('satisfiable', x.satisfiable, e.chain.satisfiable);
    if (x.automatic !== undefined) differ('automatic', x.automatic, e.automatic?.decision ?? 'none');
    if (x.automatic_rule !== undefined) differ('automatic_rule', x.automatic_rule, e.automatic?.rule ?? null);
    if (x.duration_allowed !== undefined) differ('duration_allowed', x.duration_allowed, e.problems.duration === null);
    if (x.ticket_accepted !== undefined) {
      // Not giving a required ticket is not accepting one.
      const missing = q.ticket === undefined && e.justification.ticketRequired;
      differ('ticket_accepted', x.ticket_accepted, !missing && e.problems.ticket === null);
    }
    if (x.fields_accepted !== undefined) {
      // Not giving a required field is not accepting the fields.
      const accepted = q.fields === undefined ? !e.justification.fields.some((f) => f.required) : e.problems.fields === null;
      differ('fields_accepted', x.fields_accepted, accepted);
    }
    // A failing case says what filing would refuse, which is often why.
    if (failures.length) for (const [what, problem] of Object.entries(e.problems)) if (problem) failures.push(`(filing would refuse it: ${what}: ${problem})`);
  }
  return { passed: failures.length === 0, failures };
}

function canonical(text: string): string {
  const d = parseDuration(text);
  return d.ok ? formatDuration(d.value) : text;
}

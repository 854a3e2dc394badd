// Policy unit tests written by users in YAML: "given this request → this
// outcome", run offline by `ajar policy test FILE` (in their own CI too).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { type Config, ConfigError, loadConfigFile } from '../config.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { parseResource, type Resource, validateAction } from '../domain/resource.js';
import { automaticDecision } from './conditions.js';
import { explainRequest } from './explain.js';
import { filingVars } from './filing.js';
import { onCallAt } from './oncall.js';
import { applyStageConditions } from './policy.js';

const testSchema = z.strictObject({
  name: z.string().min(1),
  request: z.strictObject({
    as: z.string().min(1),
    resources: z.array(z.string()).min(1),
    actions: z.array(z.string()).min(1),
    duration: z.string().optional(),
    break_glass: z.boolean().optional(),
    /** when the request is made, for time conditions (ISO 8601); default now */
    at: z.string().optional(),
  }),
  expect: z.strictObject({
    eligible: z.boolean(),
    auto: z.boolean().optional(),
    rules: z.array(z.string()).optional(),
    default_duration: z.string().optional(),
    max_duration: z.string().optional(),
    min_duration: z.string().optional(),
    ticket_required: z.boolean().optional(),
    max_uses: z.number().int().nullable().optional(),
    duration_allowed: z.boolean().optional(),
    approvers: z.array(z.string()).optional(),
    /** how many approval stages apply (after `when` conditions) */
    stages: z.number().int().min(0).optional(),
    /** who can approve the last stage (e.g. who is on call) */
    last_stage_approvers: z.array(z.string()).optional(),
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

export interface TestOutcome {
  name: string;
  line: number;
  passed: boolean;
  failures: string[];
}

/** Load a test file and run every case against the config it names. */
export function runPolicyTestFile(file: string): { config: string; results: TestOutcome[] } {
  const text = readFileSync(file, 'utf8');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length) throw new ConfigError(doc.errors.map((e) => `${file}:${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`));
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`));
  }
  const configFile = resolve(dirname(file), parsed.data.config);
  const config = loadConfigFile(configFile);
  const lineOf = (i: number) => {
    const node = doc.getIn(['tests', i], true) as { range?: [number, number, number] } | undefined;
    return node?.range ? lc.linePos(node.range[0]).line : 0;
  };
  return { config: configFile, results: parsed.data.tests.map((t, i) => ({ name: t.name, line: lineOf(i), ...runOne(config, t) })) };
}

type PolicyTest = z.infer<typeof testSchema>;

function runOne(config: Config, t: PolicyTest): { passed: boolean; failures: string[] } {
  const failures: string[] = [];
  const who = config.identities.get(t.request.as);
  if (!who) return { passed: false, failures: [`request.as: unknown user or service account "${t.request.as}"`] };
  const resources: Resource[] = [];
  for (const r of t.request.resources) {
    const p = parseResource(r);
    if (!p.ok) return { passed: false, failures: [`request.resources: ${p.error}`] };
    for (const a of t.request.actions) {
      const v = validateAction(p.value, a);
      if (!v.ok) return { passed: false, failures: [`request.actions: ${v.error}`] };
    }
    resources.push(p.value);
  }
  const others = [...config.identities.values()].filter((i) => !i.disabled);
  const at = t.request.at ? new Date(t.request.at) : new Date();
  if (Number.isNaN(at.getTime())) return { passed: false, failures: [`request.at: not a time; use ISO 8601`] };
  const onCall = onCallAt(config.policy.oncall, at);
  const e = explainRequest(config.policy, who, resources, t.request.actions, others, { breakGlass: t.request.break_glass === true, onCall: (r) => onCall[r] ?? [] });
  const asked = t.request.duration ? parseDuration(t.request.duration) : undefined;
  const vars = filingVars(config, { who, resources, actions: t.request.actions, durationSeconds: asked?.ok ? asked.value : (e.defaultDurationSeconds ?? 0), reason: '' }, at);
  if (e.eligible) {
    // Conditional stages are decided at filing, as the server does.
    const kept = new Set(applyStageConditions(config.policy, e.planStages, vars).map((st) => `${st.rule}#${st.ruleStage}`));
    e.stages = e.stages.filter((_st, i) => kept.has(`${e.planStages[i]!.rule}#${e.planStages[i]!.ruleStage}`));
  }
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
    if (x.automatic !== undefined || x.automatic_rule !== undefined) {
      const auto = t.request.break_glass ? undefined : automaticDecision(config.policy.automatic, vars);
      if (x.automatic !== undefined) differ('automatic', x.automatic, auto?.decision ?? 'none');
      if (x.automatic_rule !== undefined) differ('automatic_rule', x.automatic_rule, auto?.rule ?? null);
    }
    if (x.duration_allowed !== undefined) {
      const d = t.request.duration ? parseDuration(t.request.duration) : undefined;
      if (d && !d.ok) failures.push(`request.duration: ${d.error}`);
      else differ('duration_allowed', x.duration_allowed, !d || d.value <= e.maxDurationSeconds!);
    }
  }
  return { passed: failures.length === 0, failures };
}

function canonical(text: string): string {
  const d = parseDuration(text);
  return d.ok ? formatDuration(d.value) : text;
}

// `ajar policy …`: questions about the policy.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { referencedFiles } from '../policy/policy-file.js';
import type { TestOutcome } from '../policy/policy-test.js';
import { formatDuration } from '../domain/duration.js';
import type { FilingExplanation } from '../policy/explain.js';
import { parseFields } from './access.js';
import type { Simulation } from '../policy/simulate.js';
import { callJson, CliError, type GlobalOptions } from './client.js';
import { print, table } from './output.js';
import { collect, withClient } from './run.js';

function describe(e: FilingExplanation): string {
  const what = `${e.actions.join(', ')} on ${e.resources.join(', ')}${e.breakGlass ? ' (break-glass)' : ''}`;
  if (!e.eligible) return `${e.subject} may not request ${what}: ${e.reason}\n`;
  const lines = [
    `${e.subject} may request ${what} (rule ${e.rules.join(', ')})`,
    `  duration: default ${formatDuration(e.defaultDurationSeconds!)}, at most ${formatDuration(e.maxDurationSeconds!)}${e.minDurationSeconds ? `, at least ${formatDuration(e.minDurationSeconds)}` : ''}${e.maxUses !== null ? `; at most ${e.maxUses} use(s)` : ''}`,
    `  justification: a reason${e.justification.ticketRequired ? ' and a ticket' : ''} ${e.justification.ticketRequired ? 'are' : 'is'} required${e.justification.ticketPatterns.length ? ` (ticket matching ${e.justification.ticketPatterns.join(' and ')})` : ''}`,
  ];
  for (const f of e.justification.fields) {
    lines.push(`  field ${f.name}${f.required ? ' (required)' : ''}${f.description ? `: ${f.description}` : ''}${f.pattern ? ` — matching ${f.pattern}` : ''}`);
  }
  for (const [what, problem] of Object.entries(e.problems)) if (problem) lines.push(`  REFUSED as asked: ${what}: ${problem}`);
  if (e.automatic?.decision === 'deny') lines.push(`  would be DENIED by automatic rule ${e.automatic.rule}${e.automatic.reason ? `: ${e.automatic.reason}` : ''}`);
  else if (e.autoApproved) lines.push(`  approval: automatic (rule ${e.automatic?.rule ?? e.rules.join(', ')})`);
  for (const s of e.stages) {
    const from = [...s.groups.map((g) => `group ${g}`), ...s.users.map((u) => `user ${u}`), ...s.oncall.map((r) => `on-call ${r}`)].join(' or ');
    const distinct = s.distinct ? (s.distinct === 'group' ? ', each from a different one' : ` with distinct ${s.distinct}`) : '';
    lines.push(`  approval (${s.rule}): ${s.count} of ${from}${distinct} — ${s.approvers.length ? s.approvers.join(', ') : 'nobody'}${s.satisfiable ? '' : '  [cannot be satisfied: too few eligible approvers]'}`);
    if (s.remindEverySeconds) lines.push(`    undecided: approvers reminded every ${formatDuration(s.remindEverySeconds)}`);
    for (const t of s.escalate) lines.push(`    no decision after ${formatDuration(t.afterSeconds)}: also ${[...t.groups.map((x) => `group ${x}`), ...t.users.map((u) => `user ${u}`)].join(' or ')}`);
  }
  if (!e.chain.satisfiable) lines.push(`  the approval chain can never be satisfied: ${e.chain.problem}`);
  lines.push(`  as of ${e.at}${e.assumed.length ? `, assuming ${e.assumed.join(', ')}` : ''}`);
  lines.push(`  to ask: ${e.command}`);
  return `${lines.join('\n')}\n`;
}

export function registerPolicyCommands(program: Command, g: () => GlobalOptions) {
  const policy = program.command('policy').description('questions about the policy');
  policy
    .command('explain')
    .description('may someone request this, for how long, and who approves — without filing anything')
    .option('--as <name>', 'explain for this user or service account (admins; default: yourself)')
    .requiredOption('-a, --action <action>', 'action, repeatable', collect)
    .requiredOption('-r, --resource <resource>', 'resource, repeatable', collect)
    .option('-d, --duration <duration>', 'as if asked for this long (default: the default duration)')
    .option('--ticket <ticket>', 'as if given this ticket')
    .option('--reason <text>', 'as if given this reason (automatic rules may read it)')
    .option('--field <name=value>', 'as if given this justification field, repeatable', collect)
    .option('--at <time>', 'as of this time, ISO 8601 (work hours, on-call); default now')
    .option('--break-glass', 'may I use a break-glass rule for it?')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const body = {
          resources: o.resource,
          actions: o.action,
          ...(o.as ? { as: o.as } : {}),
          ...(o.duration ? { duration: o.duration } : {}),
          ...(o.ticket ? { ticket: o.ticket } : {}),
          ...(o.reason !== undefined ? { reason: o.reason } : {}),
          ...(o.field ? { fields: parseFields(o.field) } : {}),
          ...(o.at ? { at: o.at } : {}),
          ...(o.breakGlass ? { breakGlass: true } : {}),
        };
        const e = await callJson<FilingExplanation>(c, 'POST', '/v1/policy/explain', body);
        print(o.json, e, () => describe(e));
        // 0: it would be filed as asked; 1: it would be refused.
        return e.eligible && !Object.values(e.problems).some(Boolean) && e.automatic?.decision !== 'deny' ? 0 : 1;
      }),
    );

  policy
    .command('simulate <newfile>')
    .description('replay the recorded requests of a period under a new config, or a new policy file under the running config, and show what would change (admins)')
    .option('--since <time>', 'start of the period: a duration back from now (30d) or an ISO time', '30d')
    .option('--until <time>', 'end of the period (default: now)')
    .option('--json', 'print JSON')
    .action((file: string, o) =>
      withClient(g(), async (c) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`);
        }
        // The files it names (policy_file, oncall_file) travel with it: the server reads none of its own.
        const body = { config: text, name: resolve(file), files: referencedFiles(file), since: o.since, ...(o.until ? { until: o.until } : {}) };
        const s = await callJson<Simulation & { since: string; until: string; replayed: 'config' | 'policy'; policyVersion: string }>(c, 'POST', '/v1/policy/simulate', body);
        print(o.json, s, () => {
          const m = s.summary;
          const under = s.replayed === 'policy' ? ' (the new policy file under the running config)' : '';
          const head = [
            `${s.requests} request(s) from ${s.since} to ${s.until}${under}, policy version ${s.policyVersion}; ${s.changed} would change:`,
            `  ${m.newlyRefused} refused, ${m.nowAutoDenied} now auto-denied, ${m.noLongerAutoDenied} no longer auto-denied, ${m.nowAuto} now auto-approved, ${m.nowReviewed} now reviewed,`,
            `  ${m.durationTooLong} longer than the new maximum, ${m.maxDurationChanged} with another maximum duration, ${m.otherApprovers} with other approvers`,
            `${s.refusals} request(s) refused when asked; ${m.nowAllowed} would now be filed`,
          ].join('\n');
          const changed = s.changes.length ? `\n${table(s.changes.map((x) => ({ id: x.id, requester: x.requester, resources: x.resources, actions: x.actions, changes: x.changes.join('; ') })), ['id', 'requester', 'resources', 'actions', 'changes'])}` : '\n';
          const allowed = s.allowed.length ? `refused then, filed now:\n${table(s.allowed.map((x) => ({ at: x.createdAt, requester: x.requester, resources: x.resources, actions: x.actions, 'refused then': x.refusal, now: x.outcome })), ['at', 'requester', 'resources', 'actions', 'refused then', 'now'])}` : '';
          return `${head}${changed}${allowed}`;
        });
      }),
    );
  policy
    .command('schema')
    .description('print the JSON Schema of the config file (policy included), for editor completion')
    .option('--policy-file', 'the schema of a policy file (policy_file: in the config) instead')
    .option('--tests', 'the schema of a policy test file (ajar policy test) instead')
    .action(async (o: { policyFile?: boolean; tests?: boolean }) => {
      // The config's code (zod, CEL) only for the commands that read files here.
      const [{ configJsonSchema }, { policyTestJsonSchema }] = await Promise.all([import('../config.js'), import('../policy/policy-test.js')]);
      const schema = o.tests ? policyTestJsonSchema() : configJsonSchema(o.policyFile ? 'policy' : 'config');
      process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
    });
  policy
    .command('test <files...>')
    .description('run policy unit tests written in YAML (given this request → this outcome); exit 1 if any fails')
    .option('--json', 'print JSON')
    .action(async (files: string[], o) => {
      const { runPolicyTestFile } = await import('../policy/policy-test.js');
      const all: (TestOutcome & { file: string })[] = [];
      try {
        for (const file of files) all.push(...runPolicyTestFile(file).results.map((r) => ({ ...r, file })));
      } catch (e) {
        process.stderr.write(`ajar: ${(e as Error).message}\n`);
        process.exit(2);
      }
      const failed = all.filter((r) => !r.passed).length;
      print(!!o.json, all, () =>
        `${all
          .map((r) => `${r.passed ? 'ok  ' : 'FAIL'} ${r.file}:${r.line} ${r.name}${r.failures.map((f) => `\n       ${f}`).join('')}`)
          .join('\n')}\n${all.length - failed} passed, ${failed} failed\n`,
      );
      process.exit(failed ? 1 : 0);
    });
  policy
    .command('check <file>')
    .description('validate a config file and the policy file it names; errors name file:line:col (exit 1 on errors)')
    .option('--json', 'print JSON')
    .action(checkConfigFile);
}

/** `ajar config check` and `ajar policy check`: validate, print, exit 0 or 1. */
export async function checkConfigFile(file: string, o: { json?: boolean }): Promise<never> {
  const { ConfigError, loadConfigFile } = await import('../config.js');
  try {
    const c = loadConfigFile(file);
    const summary = { ok: true, identities: c.identities.size, resources: c.resources.length, rules: c.policy.rules.length, policyFile: c.policyFile ?? null };
    print(!!o.json, summary, () => `${file}: ok (${summary.identities} identities, ${summary.resources} resources, ${summary.rules} rules${c.policyFile ? ` in ${c.policyFile}` : ''})\n`);
    process.exit(0);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (o.json) print(true, { ok: false, problems: e.problems }, () => '');
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}

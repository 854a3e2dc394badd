// Benchmark: policy evaluation per request with a 200-rule policy, against a
// 10-rule policy in the same run (the baseline). Pure evaluation, no I/O. Two
// measures: the rules alone (evaluateRequest), and the whole decision filing
// makes in process (rules, then the request's CEL variables in the policy's time
// zone, the automatic CEL rules and the conditional stages: decideAtFiling).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../dist/config.js';
import { parseResource } from '../dist/domain/resource.js';
import { decideAtFiling, filingVars } from '../dist/policy/filing.js';
import { evaluateRequest } from '../dist/policy/policy.js';

let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = (a) => a[Math.floor(rnd() * a.length)];

function policyYaml(nRules) {
  const groups = Array.from({ length: 40 }, (_, i) => `g${i}`);
  const repos = Array.from({ length: 60 }, (_, i) => `repo-${i}`);
  const lines = ['groups:', ...groups.map((g) => `  ${g}: {}`), 'users:'];
  for (let u = 0; u < 50; u++) lines.push(`  user-${u}: { groups: [${[pick(groups), pick(groups), pick(groups)].join(', ')}] }`);
  lines.splice(groups.length + 1, 0, '  leads: {}');
  for (let u = 0; u < 5; u++) lines.push(`  lead-${u}: { groups: [leads] }`);
  lines.push('resources:', ...repos.map((r, i) => `  - { id: "git:${r}", labels: { tier: ${i % 4 ? 'standard' : 'critical'}, owner: team-${i % 7} } }`));
  // The automatic rules of a realistic policy: work hours in a zone, labels, groups, tickets, durations.
  lines.push('policy:', '  timezone: Europe/Berlin', '  automatic:');
  const automatic = [
    ['deny', 'time.weekday > 5 && resources.exists(r, r.labels["tier"] == "critical")'],
    ['deny', 'request.duration_seconds > 28800'],
    ['approve', 'time.weekday <= 5 && time.hour >= 9 && time.hour < 18 && request.duration_seconds <= 3600 && resources.all(r, r.labels["tier"] == "standard")'],
    ['approve', 'request.ticket.matches("^PAY-[0-9]+$") && "g1" in requester.groups'],
    ['deny', 'request.reason.size() < 3'],
  ];
  for (let i = 0; i < Math.min(20, nRules); i++) {
    const [decision, when] = automatic[i % automatic.length];
    lines.push(`    - { name: auto-${i}, decision: ${decision}, when: '${when} && "g${i}" in requester.groups' }`);
  }
  lines.push('  rules:');
  const scopes = ['release/*', 'feature/**', 'main', 'hotfix/*', 'refs/tags/v*'];
  for (let i = 0; i < nRules; i++) {
    const block = i % 25 === 24;
    lines.push(
      `    - name: rule-${i}`,
      `      who: { groups: [${pick(groups)}, ${pick(groups)}] }`,
      `      resources: ["git:${pick(repos)}:${pick(scopes)}", "git:${pick(repos)}:${pick(scopes)}"]`,
      `      actions: [${block ? 'force-push' : pick(['push', 'push, force-push', 'push, delete'])}]`,
    );
    if (block) lines.push('      effect: block');
    else if (i % 3) lines.push('      max_duration: 2h', '      approval: auto');
    else {
      // Reviewed by a lead; after hours also by a second one (a conditional stage).
      lines.push('      max_duration: 2h', '      approval:', '        stages:', '          - { groups: [leads], count: 1 }', '          - { groups: [leads], count: 1, when: "time.hour < 9 || time.hour >= 18" }');
    }
  }
  return { text: `${lines.join('\n')}\n`, repos, scopes };
}

function measure(nRules, n, whole) {
  const { text, repos } = policyYaml(nRules);
  const config = parseConfig(text, `bench-${nRules}.yaml`);
  const users = [...config.identities.values()];
  const start = Date.parse('2026-11-23T06:00:00Z');
  // The rules alone: any request (most are refused, as most of what could be asked is not
  // allowed). The whole decision: requests some allow rule admits, so every one goes on to
  // the CEL rules and stages (what filing evaluates for a request it files).
  const allow = config.policy.rules.filter((r) => r.effect === 'allow' && users.some((u) => u.groups.some((g) => r.who.groups.includes(g))));
  const concrete = (p) => p.replace('**', 'a/b').replace('*', 'x');
  const ask = () => {
    if (!whole) return { who: pick(users), resources: [parseResource(`git:${pick(repos)}:${pick(['release/3', 'feature/a/b', 'main', 'hotfix/x', 'refs/tags/v1'])}`).value], actions: [pick(['push', 'force-push', 'delete'])] };
    const rule = pick(allow);
    const r = pick(rule.resources);
    return { who: pick(users.filter((u) => u.groups.some((g) => rule.who.groups.includes(g)))), resources: [parseResource(`${r.kind}:${r.name}:${concrete(r.scope)}`).value], actions: [pick(rule.actions)] };
  };
  const reqs = Array.from({ length: n }, () => ({
    ...ask(),
    ticket: pick(['PAY-12', 'OPS-3', undefined]),
    durationSeconds: pick([600, 3600, 7200]),
    // across a week, so work hours, evenings and the weekend all come up
    at: new Date(start + Math.floor(rnd() * 7 * 24 * 3600) * 1000),
  }));
  const once = (r) => {
    const e = evaluateRequest(config.policy, r.who, r.resources, r.actions);
    if (!whole || !e.eligible) return e;
    const vars = filingVars(config, { who: r.who, resources: r.resources, actions: r.actions, durationSeconds: r.durationSeconds, ticket: r.ticket, reason: 'release of the week', fields: {} }, r.at);
    return { eligible: true, plan: decideAtFiling(config.policy, e.plan, vars) };
  };
  for (const r of reqs.slice(0, 5000)) once(r);
  const times = new Float64Array(n);
  let eligible = 0;
  let automatic = 0;
  for (let i = 0; i < n; i++) {
    const r = reqs[i];
    const t = process.hrtime.bigint();
    const e = once(r);
    times[i] = Number(process.hrtime.bigint() - t) / 1000;
    if (e.eligible) eligible++;
    if (e.eligible && e.plan.automatic) automatic++;
  }
  times.sort();
  const p = (q) => times[Math.min(n - 1, Math.floor(q * n))];
  return { rules: nRules, automaticRules: config.policy.automatic.length, whole, n, eligible, automatic, p50: p(0.5), p90: p(0.9), p99: p(0.99), max: times[n - 1] };
}

const runs = {
  rules200: measure(200, 50_000, false),
  rules10: measure(10, 50_000, false),
  filing200: measure(200, 50_000, true),
  filing10: measure(10, 50_000, true),
};
const f = (r) =>
  `${r.rules} rules${r.whole ? ` + ${r.automaticRules} CEL rules, time zone, stages` : ''}: p50 ${r.p50.toFixed(2)} µs  p90 ${r.p90.toFixed(2)}  p99 ${r.p99.toFixed(2)}  max ${r.max.toFixed(0)}  (${r.n} requests, ${r.eligible} eligible${r.whole ? `, ${r.automatic} decided by a CEL rule` : ''})`;
const ratio = (a, b) => `p50 ×${(a.p50 / b.p50).toFixed(1)}, p99 ×${(a.p99 / b.p99).toFixed(1)}`;
console.log(`policy evaluation per request, node ${process.version}`);
console.log('the rules alone (evaluateRequest):');
console.log(`  ${f(runs.rules200)}`);
console.log(`  ${f(runs.rules10)}`);
console.log(`  200 rules / 10 rules: ${ratio(runs.rules200, runs.rules10)}`);
console.log('the whole decision at filing (rules, CEL variables in Europe/Berlin, automatic rules, conditional stages):');
console.log(`  ${f(runs.filing200)}`);
console.log(`  ${f(runs.filing10)}`);
console.log(`  200 rules / 10 rules: ${ratio(runs.filing200, runs.filing10)}`);
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'policy-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, ...runs }, null, 2)}\n`);

// Benchmark: policy evaluation per request with a 200-rule policy, against a
// 10-rule policy in the same run (the baseline). Pure evaluation, no I/O.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../dist/config.js';
import { parseResource } from '../dist/domain/resource.js';
import { evaluateRequest } from '../dist/policy/policy.js';

let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = (a) => a[Math.floor(rnd() * a.length)];

function policyYaml(nRules) {
  const groups = Array.from({ length: 40 }, (_, i) => `g${i}`);
  const repos = Array.from({ length: 60 }, (_, i) => `repo-${i}`);
  const lines = ['groups:', ...groups.map((g) => `  ${g}: {}`), 'users:'];
  for (let u = 0; u < 50; u++) lines.push(`  user-${u}: { groups: [${[pick(groups), pick(groups), pick(groups)].join(', ')}] }`);
  lines.push('resources:', ...repos.map((r) => `  - id: git:${r}`), 'policy:', '  rules:');
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
    else lines.push('      max_duration: 2h', `      approval: ${i % 3 ? 'auto' : '{ groups: [g1], count: 1 }'}`);
  }
  return { text: `${lines.join('\n')}\n`, repos, scopes };
}

function measure(nRules, n) {
  const { text, repos } = policyYaml(nRules);
  const config = parseConfig(text, `bench-${nRules}.yaml`);
  const users = [...config.identities.values()];
  const reqs = Array.from({ length: n }, () => ({
    who: pick(users),
    resources: [parseResource(`git:${pick(repos)}:${pick(['release/3', 'feature/a/b', 'main', 'hotfix/x', 'refs/tags/v1'])}`).value],
    actions: [pick(['push', 'force-push', 'delete'])],
  }));
  for (const r of reqs.slice(0, 5000)) evaluateRequest(config.policy, r.who, r.resources, r.actions);
  const times = new Float64Array(n);
  let eligible = 0;
  for (let i = 0; i < n; i++) {
    const r = reqs[i];
    const t = process.hrtime.bigint();
    const e = evaluateRequest(config.policy, r.who, r.resources, r.actions);
    times[i] = Number(process.hrtime.bigint() - t) / 1000;
    if (e.eligible) eligible++;
  }
  times.sort();
  const p = (q) => times[Math.min(n - 1, Math.floor(q * n))];
  return { rules: nRules, n, eligible, p50: p(0.5), p90: p(0.9), p99: p(0.99), max: times[n - 1] };
}

const big = measure(200, 50_000);
const small = measure(10, 50_000);
const f = (r) => `${r.rules} rules: p50 ${r.p50.toFixed(2)} µs  p90 ${r.p90.toFixed(2)}  p99 ${r.p99.toFixed(2)}  max ${r.max.toFixed(0)}  (${r.n} requests, ${r.eligible} eligible)`;
console.log(`policy evaluation per request, node ${process.version}`);
console.log(f(big));
console.log(f(small));
console.log(`200 rules / 10 rules: p50 ×${(big.p50 / small.p50).toFixed(1)}, p99 ×${(big.p99 / small.p99).toFixed(1)}`);
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'policy-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, big, small }, null, 2)}\n`);

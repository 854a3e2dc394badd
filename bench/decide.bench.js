// Benchmark of the access decision with 100,000 active grants.
//
// 1. In process: the pure `decide` over one subject's grants, fetched from an
//    index by subject (what the server does: it loads the subject's open grants,
//    then decides). Baseline in the same run: a linear scan over all 100k grants.
// 2. End to end: the `check` use case (database read, decision, audit event in one
//    transaction) on the embedded database with 100k grant rows, and on
//    PostgreSQL when one answers at 127.0.0.1:5432.
//
// Run: npm run bench   (results also written to bench/results/decide-latest.json)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { check } from '../dist/app/grants.js';
import { localAdmin, makeContextForBench } from './support.js';
import { decide } from '../dist/domain/decide.js';
import { parseResource } from '../dist/domain/resource.js';
import { openDatabase } from '../dist/store/database.js';
import { migrate } from '../dist/store/migrations.js';

const GRANTS = 100_000;
const SUBJECTS = 10_000;
const HOT = 1_000; // one subject with many grants
const QUERIES = 200_000;
const AT = new Date('2026-11-23T12:00:00Z');

// A small deterministic PRNG, so every run measures the same workload.
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const repos = Array.from({ length: 200 }, (_, i) => (i % 5 === 0 ? `platform/svc-${i}` : `repo-${i}`));
const hgRepos = Array.from({ length: 50 }, (_, i) => `hg-${i}`);
const apps = Array.from({ length: 50 }, (_, i) => `app-${i}`);
const gitScopes = ['release/*', 'feature/**', 'main', 'hotfix/*', 'refs/tags/v*', 'release/2.*'];

function randomGrantResource() {
  const r = rnd();
  if (r < 0.6) return `git:${pick(repos)}:${pick(gitScopes)}`;
  if (r < 0.7) return `git:${pick(repos)}`;
  if (r < 0.85) return `hg:${pick(hgRepos)}:${pick(['default', 'stable', '@feature-x'])}`;
  return `env:${pick(apps)}:${pick(['production', 'staging'])}`;
}
const actionsFor = (res) =>
  res.startsWith('git:') ? (res.split(':').length === 2 ? ['read'] : [pick(['push', 'force-push', 'delete', 'tag'])]) :
  res.startsWith('hg:') ? [pick(['push', 'publish', 'close-branch'])] : [pick(['deploy', 'read-secrets'])];

function makeGrants() {
  const grants = [];
  for (let i = 0; i < GRANTS; i++) {
    const subject = i < HOT ? 'hot' : `user-${i % SUBJECTS}`;
    const text = randomGrantResource();
    grants.push({
      id: `grt_${i}`,
      subject,
      text,
      resources: [parseResource(text).value],
      actions: actionsFor(text),
      startsAt: new Date(AT.getTime() - 3600_000),
      endsAt: new Date(AT.getTime() + 3600_000 * (1 + (i % 8))),
      maxUses: i % 10 === 0 ? 3 : null,
      uses: 0,
      state: 'active',
    });
  }
  return grants;
}

/** A query that an existing grant allows (half the time) or a plausible miss. */
function makeQueries(grants, n) {
  const qs = [];
  for (let i = 0; i < n; i++) {
    const g = grants[Math.floor(rnd() * grants.length)];
    const allow = rnd() < 0.5;
    const [kind, name, scope] = g.text.split(':');
    let concrete = scope === undefined ? `${kind}:${name}` : `${kind}:${name}:${scope.replace('**', 'a/b').replace('*', '7')}`;
    if (!allow) concrete = kind === 'env' ? `env:${name}:qa` : `${kind}:${name}${kind === 'git' && scope === undefined ? '' : ':nope/x'}`;
    qs.push({ subject: rnd() < 0.05 ? 'hot' : g.subject, action: g.actions[0], resource: parseResource(concrete).value });
  }
  return qs;
}

function percentiles(ns) {
  const a = Float64Array.from(ns).sort();
  const p = (q) => a[Math.min(a.length - 1, Math.floor(q * a.length))] / 1000;
  return { n: a.length, p50: p(0.5), p90: p(0.9), p99: p(0.99), p999: p(0.999), max: a[a.length - 1] / 1000 };
}

function timeEach(queries, fn) {
  const out = new Array(queries.length);
  let allowed = 0;
  for (let i = 0; i < queries.length; i++) {
    const t0 = process.hrtime.bigint();
    const d = fn(queries[i]);
    out[i] = Number(process.hrtime.bigint() - t0);
    if (d.allow) allowed++;
  }
  return { ...percentiles(out), allowed };
}

const fmt = (r) => `p50 ${r.p50.toFixed(2)} µs  p90 ${r.p90.toFixed(2)}  p99 ${r.p99.toFixed(2)}  p99.9 ${r.p999.toFixed(2)}  max ${r.max.toFixed(0)}  (n=${r.n}, ${((r.allowed / r.n) * 100).toFixed(0)}% allow)`;

async function inProcess() {
  const grants = makeGrants();
  const bySubject = new Map();
  for (const g of grants) {
    let l = bySubject.get(g.subject);
    if (!l) bySubject.set(g.subject, (l = []));
    l.push(g);
  }
  const queries = makeQueries(grants, QUERIES);
  const indexed = (q) => decide(bySubject.get(q.subject) ?? [], q, AT);
  timeEach(queries.slice(0, 20_000), indexed); // warm-up
  const t0 = performance.now();
  const idx = timeEach(queries, indexed);
  const seconds = (performance.now() - t0) / 1000;
  const hotQueries = queries.filter((q) => q.subject === 'hot');
  const hot = timeEach(hotQueries, indexed);
  const naiveQueries = queries.slice(0, 2_000);
  const naive = timeEach(naiveQueries, (q) => decide(grants, q, AT));
  // Same answers both ways, or the comparison means nothing.
  for (const q of naiveQueries) {
    if (decide(grants, q, AT).allow !== indexed(q).allow) throw new Error('indexed and naive decisions differ');
  }
  return { grants: GRANTS, subjects: SUBJECTS + 1, hotSubjectGrants: HOT, indexed: idx, hotSubject: hot, naive, throughputPerSecond: Math.round(QUERIES / seconds), grantsList: grants };
}

async function endToEnd(kind, url) {
  const dir = mkdtempSync(join(tmpdir(), 'ajar-bench-'));
  const database = await openDatabase({ url, dataDir: dir });
  try {
    await migrate(database.db);
    const subjects = 2_000;
    const users = {};
    for (let i = 0; i < subjects; i++) users[`user-${i}`] = { groups: [] };
    const ctx = makeContextForBench(database, users, AT);
    const created = new Date(AT.getTime() - 7200_000);
    const batch = 1_000;
    const t0 = performance.now();
    for (let b = 0; b < GRANTS / batch; b++) {
      const reqs = [];
      const rows = [];
      for (let i = b * batch; i < (b + 1) * batch; i++) {
        const res = i % 3 === 0 ? `git:repo-${i % 200}` : `git:repo-${i % 200}:release/*`;
        const actions = i % 3 === 0 ? ['read'] : ['push'];
        reqs.push({
          id: `req_${i}`, requester: `user-${i % subjects}`, resources: JSON.stringify([res]), actions: JSON.stringify(actions),
          duration_seconds: 3600 * 8, reason: 'bench', state: 'approved', plan: '{}', policy_version: 'bench',
          created_at: created, expires_at: AT,
        });
        rows.push({
          id: `grt_${i}`, request_id: `req_${i}`, subject: `user-${i % subjects}`, resources: JSON.stringify([res]), actions: JSON.stringify(actions),
          starts_at: created, ends_at: new Date(AT.getTime() + 3600_000 * 6), state: 'active', auto_approved: true, created_at: created,
        });
      }
      await database.db.insertInto('access_requests').values(reqs).execute();
      await database.db.insertInto('grants').values(rows).execute();
    }
    const loadSeconds = (performance.now() - t0) / 1000;
    const actor = localAdmin('bench');
    const n = 2_000;
    const times = [];
    let allowed = 0;
    for (let i = 0; i < n + 200; i++) {
      const k = Math.floor(rnd() * GRANTS);
      const allow = i % 2 === 0;
      const input = k % 3 === 0
        ? { subject: `user-${k % subjects}`, action: 'read', resource: allow ? `git:repo-${k % 200}` : `git:repo-${(k + 1) % 200}` }
        : { subject: `user-${k % subjects}`, action: 'push', resource: `git:repo-${k % 200}:${allow ? 'release/3' : 'main'}` };
      const t = process.hrtime.bigint();
      const d = await check(ctx, actor, input);
      if (i >= 200) {
        times.push(Number(process.hrtime.bigint() - t));
        if (d.allow) allowed++;
      }
    }
    return { database: kind, grants: GRANTS, loadSeconds: Number(loadSeconds.toFixed(1)), check: { ...percentiles(times), allowed } };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresUrl() {
  const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `ajar_bench_${process.pid}`;
  const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query(`create database ${name}`);
  } catch (e) {
    console.log(`PostgreSQL not reachable (${e.message}); skipping the PostgreSQL end-to-end figures`);
    return undefined;
  } finally {
    await c.end().catch(() => {});
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

const started = Date.now();
console.log(`decision benchmark: ${GRANTS} active grants, node ${process.version}, ${cpus().length} cores`);
const ip = await inProcess();
console.log(`in process, indexed by subject   ${fmt(ip.indexed)}  → ${ip.throughputPerSecond.toLocaleString('en')} decisions/s`);
console.log(`in process, hot subject (${HOT} grants) ${fmt(ip.hotSubject)}`);
console.log(`baseline: linear scan of all      ${fmt(ip.naive)}`);
const ratio = { p50: ip.naive.p50 / ip.indexed.p50, p99: ip.naive.p99 / ip.indexed.p99 };
console.log(`baseline / indexed: p50 ×${ratio.p50.toFixed(0)}, p99 ×${ratio.p99.toFixed(0)}; goal p99 <= 50 µs: ${ip.indexed.p99 <= 50 ? 'met' : 'NOT met'}`);
delete ip.grantsList;

const e2e = [await endToEnd('pglite', undefined)];
console.log(`check() end to end on PGlite     ${fmt(e2e[0].check)}  (loaded in ${e2e[0].loadSeconds}s)`);
const pgdb = await postgresUrl();
if (pgdb) {
  try {
    e2e.push(await endToEnd('postgres', pgdb.url));
    console.log(`check() end to end on PostgreSQL ${fmt(e2e[1].check)}  (loaded in ${e2e[1].loadSeconds}s)`);
  } finally {
    await pgdb.drop();
  }
}

mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
const out = { date: new Date().toISOString(), node: process.version, cores: cpus().length, cpu: cpus()[0]?.model, inProcess: ip, ratioBaselineOverIndexed: ratio, endToEnd: e2e, seconds: Math.round((Date.now() - started) / 1000) };
writeFileSync(join(import.meta.dirname, 'results', 'decide-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`done in ${out.seconds}s; bench/results/decide-latest.json`);
process.exit(0);

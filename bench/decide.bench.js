// Benchmark of the access decision with 100,000 active grants.
//
// 1. In process: the pure `decide` over one subject's grants, fetched from an
//    index by subject (what the server does: it loads the subject's open grants,
//    then decides). Baseline in the same run: a linear scan over all 100k grants.
// 2. End to end: the `check` use case (database read, decision, audit event in one
//    transaction) with the same 100k grants as rows, on the embedded database and
//    on PostgreSQL when one answers at 127.0.0.1:5432 (BENCH_DATABASE_URL to change).
//
// One deterministic workload (seeded PRNG) for both parts, so the database answers
// are checked against the in-process answers.
//
// Run: npm run bench   (results also written to bench/results/decide-latest.json)
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { check } from '../dist/app/grants.js';
import { grantView } from '../dist/app/views.js';
import { decide } from '../dist/domain/decide.js';
import { ACTIONS, parseResource } from '../dist/domain/resource.js';
import { openDatabase } from '../dist/store/database.js';
import { migrate } from '../dist/store/migrations.js';
import { localAdmin, makeContextForBench } from './support.js';

const GRANTS = 100_000;
const SUBJECTS = 10_000; // ~10 grants each
const HOT = 1_000; // grants of the one "hot" subject (part of the 100k)
const WARMUP = 20_000;
const QUERIES = 200_000;
const NAIVE_QUERIES = 2_000;
const CHECKS = 2_000;
const CHECK_WARMUP = 200;
const GOAL_P99_US = 50;
const AT = new Date('2026-11-23T12:00:00Z');
const HOUR = 3600_000;

// A small deterministic PRNG, so every run measures the same workload.
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const pick = (a) => a[Math.floor(rnd() * a.length)];
const pickSome = (a, max) => {
  const out = [pick(a)];
  while (out.length < max && rnd() < 0.35) {
    const x = pick(a);
    if (!out.includes(x)) out.push(x);
  }
  return out;
};

// 200 Git repositories, some with `/` in the name; Mercurial repositories; applications.
const repos = Array.from({ length: 200 }, (_, i) => (i % 10 === 0 ? `team-${i % 7}/infra/svc-${i}` : i % 5 === 0 ? `platform/svc-${i}` : `repo-${i}`));
const hgRepos = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? `legacy/hg-${i}` : `hg-${i}`));
const apps = Array.from({ length: 50 }, (_, i) => `app-${i}`);
const gitScopes = ['release/*', 'feature/**', 'main', 'develop', 'hotfix/*', 'refs/tags/v*', 'release/2.*', 'release/2.4'];
const hgScopes = ['default', 'stable', 'feature-x', '@review'];
const envs = ['production', 'staging', 'eu-production'];
const gitBranchActions = ACTIONS.git.filter((a) => a !== 'read');
const hgBranchActions = ACTIONS.hg.filter((a) => a !== 'read');

/** One grant's resources (1 or 2, same kind) and actions, as stored: text. */
function randomGrantBody() {
  const r = rnd();
  if (r < 0.55) {
    const repo = pick(repos);
    const scopes = pickSome(gitScopes, 2);
    return { resources: scopes.map((s) => `git:${repo}:${s}`), actions: pickSome(gitBranchActions, 2) };
  }
  if (r < 0.65) return { resources: [`git:${pick(repos)}`], actions: ['read'] };
  if (r < 0.8) {
    const repo = pick(hgRepos);
    return { resources: pickSome(hgScopes, 2).map((s) => `hg:${repo}:${s}`), actions: pickSome(hgBranchActions, 2) };
  }
  if (r < 0.85) return { resources: [`hg:${pick(hgRepos)}`], actions: ['read'] };
  const app = pick(apps);
  return { resources: pickSome(envs, 2).map((e) => `env:${app}:${e}`), actions: pickSome(ACTIONS.env, 2) };
}

/** Active grants in GrantView shape (plus `text`, the stored resource strings). */
function makeGrants() {
  const grants = [];
  for (let i = 0; i < GRANTS; i++) {
    const subject = i < HOT ? 'hot' : `user-${i % SUBJECTS}`;
    const body = randomGrantBody();
    const counted = i % 10 === 0;
    grants.push({
      id: `grt_${i}`,
      subject,
      text: body.resources,
      resources: body.resources.map((t) => parseResource(t).value),
      actions: body.actions,
      startsAt: new Date(AT.getTime() - HOUR),
      endsAt: new Date(AT.getTime() + HOUR * (1 + (i % 8))),
      maxUses: counted ? 3 : null,
      uses: counted ? i % 3 : 0,
      state: 'active',
    });
  }
  return grants;
}

/** A concrete resource a pattern covers. */
const concretize = (text) => text.replace('**', 'a/b').replace('*', '7');

/**
 * About half the queries ask for what one of the subject's grants allows; the rest
 * ask for a plausible miss: an action the grant lacks, a branch or environment
 * outside it, or another repository. ~6.6% are on the hot subject (5% drawn from
 * its grants, plus its 1% share of the rest).
 */
function makeQueries(grants, hotGrants, n) {
  const qs = [];
  for (let i = 0; i < n; i++) {
    const g = rnd() < 0.05 ? pick(hotGrants) : pick(grants);
    const k = Math.floor(rnd() * g.text.length);
    const [kind, name, scope] = g.text[k].split(':');
    let action = pick(g.actions);
    let text = concretize(g.text[k]);
    if (rnd() >= 0.5) {
      const miss = rnd();
      const allowedHere = ACTIONS[kind].filter((a) => !g.actions.includes(a) && (scope === undefined || a !== 'read'));
      if (miss < 0.34 && allowedHere.length > 0) action = pick(allowedHere);
      else if (miss < 0.67) text = scope === undefined ? `${kind}:${name}-fork` : `${kind}:${name}:${kind === 'env' ? 'qa' : 'nope/x'}`;
      else {
        // another repository or application, same action
        const other = kind === 'git' ? pick(repos) : kind === 'hg' ? pick(hgRepos) : pick(apps);
        text = kind === 'env' ? `env:${other}:production` : action === 'read' ? `${kind}:${other}` : `${kind}:${other}:${kind === 'git' ? 'main' : 'default'}`;
      }
    }
    qs.push({ subject: g.subject, action, text, resource: parseResource(text).value });
  }
  return qs;
}

/** Percentiles in microseconds of durations in nanoseconds. */
function percentiles(ns) {
  const a = Float64Array.from(ns).sort();
  const p = (q) => a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)] / 1000;
  return { n: a.length, p50: p(0.5), p90: p(0.9), p99: p(0.99), p999: p(0.999), max: a[a.length - 1] / 1000 };
}

/**
 * Time each call on its own; returns the durations (ns), whether each allowed, and
 * the first `keep` decisions (kept for the cross-checks; keeping all 200k would add
 * garbage-collector work of the benchmark's own to the figures).
 */
function timeEach(queries, fn, keep = 0) {
  const ns = new Float64Array(queries.length);
  const allow = new Uint8Array(queries.length);
  const kept = [];
  for (let i = 0; i < queries.length; i++) {
    const t0 = process.hrtime.bigint();
    const d = fn(queries[i]);
    ns[i] = Number(process.hrtime.bigint() - t0);
    allow[i] = d.allow ? 1 : 0;
    if (i < keep) kept.push(d);
  }
  return { ns, allow, decisions: kept };
}

const summary = (ns, allow) => ({ ...percentiles(ns), allowed: allow.reduce((n, a) => n + (a ? 1 : 0), 0) });
const r2 = (x) => Math.round(x * 100) / 100;
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? r2(v) : v]));
const us = (x) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(2)} µs`);
const fmt = (r) => `p50 ${us(r.p50)}  p90 ${us(r.p90)}  p99 ${us(r.p99)}  p99.9 ${us(r.p999)}  max ${us(r.max)}  (n=${r.n}, ${((r.allowed / r.n) * 100).toFixed(0)}% allow)`;

function inProcess(grants, queries, warmup) {
  const bySubject = new Map();
  for (const g of grants) {
    let l = bySubject.get(g.subject);
    if (!l) bySubject.set(g.subject, (l = []));
    l.push(g);
  }
  const indexed = (q) => decide(bySubject.get(q.subject) ?? [], q, AT);

  // What the timer itself costs (two hrtime.bigint calls around nothing).
  const empty = timeEach(queries.slice(0, 100_000), () => ({ allow: false }));
  const timerOverhead = percentiles(empty.ns);

  timeEach(warmup, indexed);
  const idx = timeEach(queries, indexed, CHECKS + CHECK_WARMUP);
  const hotMask = queries.map((q) => q.subject === 'hot');
  const hot = summary(idx.ns.filter((_, i) => hotMask[i]), idx.allow.filter((_, i) => hotMask[i]));
  const ordinary = summary(idx.ns.filter((_, i) => !hotMask[i]), idx.allow.filter((_, i) => !hotMask[i]));

  // Throughput without the per-call timer.
  let sink = 0;
  const t0 = performance.now();
  for (const q of queries) if (indexed(q).allow) sink++;
  const seconds = (performance.now() - t0) / 1000;

  // Baseline: the same `decide` over all grants (a linear scan, no index by subject).
  const naiveQueries = queries.slice(0, NAIVE_QUERIES);
  timeEach(queries.slice(QUERIES - 100), (q) => decide(grants, q, AT)); // warm-up
  const naive = timeEach(naiveQueries, (q) => decide(grants, q, AT), NAIVE_QUERIES);
  // Same answers both ways (same grant chosen), or the comparison means nothing.
  naiveQueries.forEach((q, i) => {
    const a = naive.decisions[i];
    const b = idx.decisions[i];
    if (a.allow !== b.allow || (a.allow && a.grantId !== b.grantId)) throw new Error(`indexed and naive decisions differ for ${JSON.stringify(q)}`);
  });

  const indexedSummary = summary(idx.ns, idx.allow);
  const indexedSameQueries = summary(idx.ns.slice(0, NAIVE_QUERIES), idx.allow.slice(0, NAIVE_QUERIES));
  return {
    result: {
      indexed: round(indexedSummary),
      indexedOnTheBaselineQueries: round(indexedSameQueries),
      ordinarySubjects: round(ordinary),
      hotSubject: round(hot),
      naive: round(summary(naive.ns, naive.allow)),
      throughputPerSecond: Math.round(QUERIES / seconds),
      timerOverhead: round(timerOverhead),
      allowedInTheThroughputLoop: sink,
    },
    decisions: idx.decisions,
  };
}

async function endToEnd(kind, url, grants, queries, expected) {
  const dir = mkdtempSync(join(tmpdir(), 'ajar-bench-'));
  const database = await openDatabase({ url, dataDir: dir });
  try {
    await migrate(database.db);
    const users = Object.fromEntries([...new Set(grants.map((g) => g.subject))].map((u) => [u, {}]));
    const ctx = makeContextForBench(database, users, AT);
    const created = new Date(AT.getTime() - 2 * HOUR);
    const batch = 1_000;
    const t0 = performance.now();
    for (let b = 0; b < GRANTS; b += batch) {
      const slice = grants.slice(b, b + batch);
      // One approved request per grant (grants_one_per_request).
      await database.db
        .insertInto('access_requests')
        .values(
          slice.map((g) => ({
            id: `req_${g.id.slice(4)}`, requester: g.subject, resources: JSON.stringify(g.text), actions: JSON.stringify(g.actions),
            duration_seconds: Math.round((g.endsAt - g.startsAt) / 1000), max_uses: g.maxUses, reason: 'bench', state: 'approved',
            plan: '{}', policy_version: 'bench', created_at: created, expires_at: AT, decided_at: created, decided_by: 'bench',
          })),
        )
        .execute();
      await database.db
        .insertInto('grants')
        .values(
          slice.map((g) => ({
            id: g.id, request_id: `req_${g.id.slice(4)}`, subject: g.subject, resources: JSON.stringify(g.text), actions: JSON.stringify(g.actions),
            starts_at: g.startsAt, ends_at: g.endsAt, max_uses: g.maxUses, uses: g.uses, state: g.state, auto_approved: true, created_at: created,
          })),
        )
        .execute();
    }
    await sql`analyze`.execute(database.db); // fresh statistics, as a long-running database has
    const loadSeconds = (performance.now() - t0) / 1000;

    const actor = localAdmin('bench');
    const input = (q) => ({ subject: q.subject, action: q.action, resource: q.text });
    for (const q of queries.slice(CHECKS, CHECKS + CHECK_WARMUP)) await check(ctx, actor, input(q));
    const hot = queries.slice(0, CHECKS).map((q) => q.subject === 'hot');
    const ns = new Float64Array(CHECKS);
    const allow = new Uint8Array(CHECKS);
    for (let i = 0; i < CHECKS; i++) {
      const t = process.hrtime.bigint();
      const d = await check(ctx, actor, input(queries[i]));
      ns[i] = Number(process.hrtime.bigint() - t);
      allow[i] = d.allow ? 1 : 0;
      if (d.allow !== expected[i].allow) throw new Error(`check on ${kind} disagrees with decide for ${JSON.stringify(input(queries[i]))}`);
    }

    // Where the time goes: the same read and decision, without the transaction,
    // the identity lookup and the audit event.
    const readNs = new Float64Array(CHECKS);
    const readAllow = new Uint8Array(CHECKS);
    for (let i = 0; i < CHECKS; i++) {
      const q = queries[i];
      const t = process.hrtime.bigint();
      const rows = await ctx.db.selectFrom('grants').selectAll().where('subject', '=', q.subject).where('state', 'in', ['scheduled', 'active']).where('ends_at', '>', AT).execute();
      const d = decide(rows.map(grantView), q, AT);
      readNs[i] = Number(process.hrtime.bigint() - t);
      readAllow[i] = d.allow ? 1 : 0;
    }
    const split = (xs, ys, want) => round(summary(xs.filter((_, i) => hot[i] === want), ys.filter((_, i) => hot[i] === want)));
    return {
      database: kind,
      grants: GRANTS,
      loadSeconds: r2(loadSeconds),
      check: round(summary(ns, allow)),
      checkOrdinarySubjects: split(ns, allow, false),
      checkHotSubject: split(ns, allow, true),
      readAndDecideOnly: round(summary(readNs, readAllow)),
      readAndDecideOrdinarySubjects: split(readNs, readAllow, false),
      readAndDecideHotSubject: split(readNs, readAllow, true),
    };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresDatabase() {
  const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `ajar_bench_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
  } catch (e) {
    console.log(`PostgreSQL not reachable at ${admin.replace(/:[^:@/]*@/, ':***@')} (${e.message}); skipping the PostgreSQL end-to-end figures`);
    await c.end().catch(() => {});
    return undefined;
  }
  let version;
  try {
    version = (await c.query('show server_version')).rows[0].server_version;
    await c.query(`create database ${name}`);
  } catch (e) {
    console.log(`PostgreSQL: could not create a database (${e.message}); skipping the PostgreSQL end-to-end figures`);
    return undefined;
  } finally {
    await c.end().catch(() => {});
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    version,
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

const started = Date.now();
console.log(`decision benchmark: ${GRANTS.toLocaleString('en')} active grants over ${SUBJECTS.toLocaleString('en')} subjects + 1 hot subject with ${HOT}, node ${process.version}, ${cpus().length} cores`);
const grants = makeGrants();
const hotGrants = grants.filter((g) => g.subject === 'hot');
const warmup = makeQueries(grants, hotGrants, WARMUP);
const queries = makeQueries(grants, hotGrants, QUERIES);
const { result: ip, decisions } = inProcess(grants, queries, warmup);
const ratio = { p50: r2(ip.naive.p50 / ip.indexed.p50), p99: r2(ip.naive.p99 / ip.indexed.p99) };
const same = ip.indexedOnTheBaselineQueries;
const ratioSame = { p50: r2(ip.naive.p50 / same.p50), p99: r2(ip.naive.p99 / same.p99) };
const goalMet = ip.indexed.p99 <= GOAL_P99_US;
console.log('\nin process (µs per decision, each call timed on its own)');
console.log(`  decide, indexed by subject, all   ${fmt(ip.indexed)}`);
console.log(`    of which ~10 grants/subject      ${fmt(ip.ordinarySubjects)}`);
console.log(`    of which hot subject (${HOT})     ${fmt(ip.hotSubject)}`);
console.log(`  baseline: linear scan of all 100k ${fmt(ip.naive)}`);
console.log(`  throughput (untimed loop): ${ip.throughputPerSecond.toLocaleString('en')} decisions/s on one core; timer overhead p50 ${us(ip.timerOverhead.p50)}`);
console.log(`  baseline / indexed: p50 ×${ratio.p50.toFixed(0)}, p99 ×${ratio.p99.toFixed(0)} (on the same ${NAIVE_QUERIES} queries: p50 ×${ratioSame.p50.toFixed(0)}, p99 ×${ratioSame.p99.toFixed(0)})`);
console.log(`  goal p99 <= ${GOAL_P99_US} µs: ${goalMet ? 'met' : 'NOT met'} (p99 ${us(ip.indexed.p99)})`);

const e2e = [];
e2e.push(await endToEnd('pglite', undefined, grants, queries, decisions));
const pgdb = await postgresDatabase();
if (pgdb) {
  try {
    e2e.push({ ...(await endToEnd('postgres', pgdb.url, grants, queries, decisions)), serverVersion: pgdb.version });
  } finally {
    await pgdb.drop();
  }
}
console.log(`\ncheck() end to end, ${CHECKS} sequential calls after ${CHECK_WARMUP} warm-up (same 100k grants as rows, answers equal to decide's)`);
for (const r of e2e) {
  console.log(`  ${r.database.padEnd(8)} check(), all          ${fmt(r.check)}  (100k rows loaded in ${r.loadSeconds}s)`);
  console.log(`  ${r.database.padEnd(8)} check(), ~10 grants   ${fmt(r.checkOrdinarySubjects)}`);
  console.log(`  ${r.database.padEnd(8)} check(), hot (1,000)  ${fmt(r.checkHotSubject)}`);
  console.log(`  ${r.database.padEnd(8)} read+decide, ~10      ${fmt(r.readAndDecideOrdinarySubjects)}`);
  console.log(`  ${r.database.padEnd(8)} read+decide, hot      ${fmt(r.readAndDecideHotSubject)}`);
}

mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
const out = {
  date: new Date().toISOString(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cores: cpus().length,
  cpu: cpus()[0]?.model,
  workload: { grants: GRANTS, subjects: SUBJECTS + 1, hotSubjectGrants: HOT, warmup: WARMUP, queries: QUERIES, naiveQueries: NAIVE_QUERIES, checks: CHECKS },
  unit: 'microseconds',
  goal: { p99Us: GOAL_P99_US, met: goalMet },
  inProcess: ip,
  ratioNaiveOverIndexed: ratio,
  ratioNaiveOverIndexedSameQueries: ratioSame,
  endToEnd: e2e,
  seconds: Math.round((Date.now() - started) / 1000),
};
writeFileSync(join(import.meta.dirname, 'results', 'decide-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\ndone in ${out.seconds}s; results in bench/results/decide-latest.json`);
process.exit(0);

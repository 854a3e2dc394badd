// Benchmark: revocation lag of PostgreSQL credentials, end to end. A real
// `ajar serve` on PostgreSQL with its default settings (sweep every 1 s) and
// the real clock; 1,000 grants, each with a login role on the real PostgreSQL
// (50 of them with an open session: PostgreSQL's default 100 connections),
// all ending at the same instant T. The benchmark polls pg_roles (and
// pg_stat_activity) every 10 ms from T until no role and no session is left.
//
// Goal: <= 2 s from T to the last role gone.
//
// The grants, their requests and credentials rows are written straight into
// Ajar's database and the roles straight onto the target (what
// `ajar credentials postgres` would have made, 1,000 times): this measures
// taking back, not issuing. 5 rounds, one server.
//
// Run: node bench/revocation.bench.js on an existing build (npm run build);
// results in bench/results/revocation-latest.json. Needs PostgreSQL at
// BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const ADMIN = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const N = 1000;
const SESSIONS = 50;
const ROUNDS = 5;
const GOAL_S = 2;
const LEAD_MS = 15_000; // T is this far ahead when a round is set up

const urlOf = (db) => {
  const u = new URL(ADMIN);
  u.pathname = `/${db}`;
  return u.toString();
};
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function main() {
  const target = `ajar_revbench_${process.pid}`;
  const store = `ajar_revbench_store_${process.pid}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`create database ${target}`);
  await admin.query(`create database ${store}`);
  const t = new pg.Client({ connectionString: urlOf(target) });
  await t.connect();
  await t.query(`do $$ begin if not exists (select from pg_roles where rolname = 'revbench_reader') then create role revbench_reader nologin; end if; end $$`);
  const ajarDb = new pg.Client({ connectionString: urlOf(store) });
  const dir = mkdtempSync(join(tmpdir(), 'ajar-revbench-'));
  let server;
  const runs = [];
  try {
    const env = { ...process.env, DATABASE_URL: urlOf(store), AJAR_BENCH_TARGET_URL: urlOf(target), AJAR_LOG_LEVEL: 'warn' };
    delete env.AJAR_UNSAFE_CLOCK_FILE;
    execFileSync(process.execPath, [CLI, 'db', 'migrate'], { env, stdio: 'ignore' });
    const config = join(dir, 'ajar.yaml');
    // No workers section: the default sweep interval is what is measured.
    writeFileSync(config, `users:\n  u: {}\nresources:\n  - id: postgres:orders\ncredentials:\n  postgres:\n    orders: { admin_url_env: AJAR_BENCH_TARGET_URL, role: revbench_reader, connect: { host: 127.0.0.1, database: ${target} } }\n`);
    server = spawn(process.execPath, [CLI, 'serve', '--config', config, '--data-dir', join(dir, 'data'), '--port', '0'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((ok, fail) => {
      server.stdout.on('data', (d) => /ajar listening on/.test(String(d)) && ok());
      server.once('exit', (code) => fail(new Error(`ajar serve exited ${code}`)));
    });
    await ajarDb.connect();
    for (let round = 0; round < ROUNDS; round++) {
      const names = Array.from({ length: N }, (_, i) => `ajar_rb${round}_${i}`);
      const T = new Date(Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000);
      const created = new Date(T.getTime() - 3600_000);
      for (let b = 0; b < N; b += 500) {
        const slice = names.slice(b, b + 500);
        const rows = (f) => slice.map(f).join(', ');
        await ajarDb.query(`
          insert into access_requests (id, requester, resources, actions, duration_seconds, reason, state, plan, policy_version, created_at, expires_at, decided_at, decided_by)
            values ${rows((n) => `('req_${n}', 'u', '["postgres:orders"]', '["connect"]', 3600, 'bench', 'approved', '{"rules":[],"stages":[]}', 'bench', '${created.toISOString()}', '${T.toISOString()}', '${created.toISOString()}', 'bench')`)};
          insert into grants (id, request_id, subject, resources, actions, starts_at, ends_at, state, auto_approved, created_at)
            values ${rows((n) => `('grt_${n}', 'req_${n}', 'u', '["postgres:orders"]', '["connect"]', '${created.toISOString()}', '${T.toISOString()}', 'active', true, '${created.toISOString()}')`)};
          insert into credentials (id, grant_id, subject, kind, target, name, issued_at, expires_at)
            values ${rows((n) => `('crd_${n}', 'grt_${n}', 'u', 'postgres-role', 'postgres:orders', '${n}', '${created.toISOString()}', '${T.toISOString()}')`)};`);
        await t.query(slice.map((n) => `create role ${n} login valid until '${T.toISOString()}' in role revbench_reader;`).join('\n'));
      }
      const sessions = [];
      for (const n of names.slice(0, SESSIONS)) {
        // As the role itself (in the URL: pg lets a connection string win over a separate user).
        const u = new URL(urlOf(target));
        u.username = n;
        const c = new pg.Client({ connectionString: u.toString() });
        c.on('error', () => {});
        await c.connect();
        sessions.push(c);
      }
      const [{ open }] = (await t.query('select count(*)::int as open from pg_stat_activity where usename = any($1)', [names])).rows;
      if (open !== SESSIONS) throw new Error(`round ${round}: ${open} sessions open as the roles, expected ${SESSIONS}`);
      if (Date.now() > T.getTime() - 1000) throw new Error(`round ${round}: setting up took too long for T`);
      await sleep(T.getTime() - Date.now() - 200);
      let rolesGone;
      let sessionsGone;
      let firstGone;
      for (;;) {
        const [{ roles, sessions: live }] = (
          await t.query('select (select count(*)::int from pg_roles where rolname = any($1)) as roles, (select count(*)::int from pg_stat_activity where usename = any($1)) as sessions', [names])
        ).rows;
        const now = Date.now();
        if (firstGone === undefined && roles < N) firstGone = now;
        if (sessionsGone === undefined && live === 0 && now >= T.getTime()) sessionsGone = now;
        if (roles === 0) {
          rolesGone = now;
          sessionsGone ??= now;
          break;
        }
        if (now > T.getTime() + 60_000) throw new Error(`round ${round}: ${roles} roles still there a minute after the end`);
        await sleep(10);
      }
      if (firstGone < T.getTime()) throw new Error(`round ${round}: a role went before its grant ended`);
      await sleep(2000); // the events are written when the take-back's batch is recorded
      const [{ events }] = (await ajarDb.query("select count(*)::int as events from audit_events where type = 'credential.revoked' and details->>'role' = any($1)", [names])).rows;
      if (events !== N) throw new Error(`round ${round}: ${events} credential.revoked events, expected ${N}`);
      runs.push({ rolesGoneMs: rolesGone - T.getTime(), sessionsGoneMs: sessionsGone - T.getTime(), firstRoleGoneMs: firstGone - T.getTime() });
      await Promise.all(sessions.map((c) => c.end().catch(() => {})));
      console.log(`  round ${round + 1}: first role gone ${runs.at(-1).firstRoleGoneMs} ms, last ${runs.at(-1).rolesGoneMs} ms, sessions ${runs.at(-1).sessionsGoneMs} ms after the end`);
    }
  } finally {
    server?.kill('SIGTERM');
    await new Promise((ok) => (server && server.exitCode === null ? server.once('exit', ok) : ok()));
    await ajarDb.end().catch(() => {});
    await t.end();
    await admin.query(`drop database if exists ${target} with (force)`);
    await admin.query(`drop database if exists ${store} with (force)`);
    const left = (await admin.query("select rolname from pg_roles where rolname like 'ajar\\_rb%'")).rows.map((r) => r.rolname);
    if (left.length) await admin.query(`drop role ${left.join(', ')}`);
    await admin.query('drop role if exists revbench_reader').catch(() => {});
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
  const stat = (k) => {
    const xs = runs.map((r) => r[k]).sort((x, y) => x - y);
    return { median: xs[Math.floor(xs.length / 2)], max: xs.at(-1) };
  };
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    grants: N,
    openSessions: SESSIONS,
    sweepInterval: 'default (1s)',
    goalSeconds: GOAL_S,
    runs,
    lastRoleGoneMs: stat('rolesGoneMs'),
    sessionsGoneMs: stat('sessionsGoneMs'),
  };
  out.goalMet = out.lastRoleGoneMs.max <= GOAL_S * 1000;
  writeFileSync(join(ROOT, 'bench', 'results', 'revocation-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`revocation of ${N} PostgreSQL roles (${SESSIONS} with open sessions) ending at the same instant, ajar serve on PostgreSQL, default sweep interval:`);
  console.log(`  last role gone after the end: median ${out.lastRoleGoneMs.median} ms, max ${out.lastRoleGoneMs.max} ms (goal <= ${GOAL_S} s): ${out.goalMet ? 'met' : 'NOT met'}`);
  console.log(`  every session gone: median ${out.sessionsGoneMs.median} ms, max ${out.sessionsGoneMs.max} ms`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

// Benchmark: revocation lag of PostgreSQL credentials. 1,000 grants, each with
// a login role on the real PostgreSQL (and 100 of them with an open session),
// all ending in the same second; how long until the last role is gone?
//
// Goal: <= 2 s from the end to the last role dropped. The lag is the wait for
// the next sweep (workers.sweep_interval; 1 s here) plus the sweep's own work,
// which is what is measured: `revokeEndedCredentials` on Ajar's database
// (embedded PGlite, and PostgreSQL), timed from its start to the moment no
// role is left, 5 rounds each.
//
// Run: npm run bench (or node bench/revocation.bench.js on an existing build);
// results in bench/results/revocation-latest.json. Needs PostgreSQL at
// BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { revokeEndedCredentials } from '../dist/app/credentials.js';
import { parseConfig } from '../dist/config.js';
import { manualClock } from '../dist/domain/clock.js';
import { createLogger } from '../dist/logger.js';
import { makeContext } from '../dist/main.js';
import { openDatabase } from '../dist/store/database.js';
import { migrate } from '../dist/store/migrations.js';

const ROOT = resolve(import.meta.dirname, '..');
const ADMIN = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const N = 1000;
const SESSIONS = 50; // max_connections is 100 on a default PostgreSQL
const ROUNDS = 5;
const GOAL_S = 2;
const END = new Date('2026-11-23T10:00:00Z');

const urlOf = (db) => {
  const u = new URL(ADMIN);
  u.pathname = `/${db}`;
  return u.toString();
};

async function main() {
  const target = `ajar_revbench_${process.pid}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`create database ${target}`);
  process.env.AJAR_BENCH_TARGET_URL = urlOf(target);
  const t = new pg.Client({ connectionString: urlOf(target) });
  await t.connect();
  await t.query(`do $$ begin if not exists (select from pg_roles where rolname = 'revbench_reader') then create role revbench_reader nologin; end if; end $$`);
  const results = [];
  const dropLeftovers = async () => {
    const left = (await admin.query("select rolname from pg_roles where rolname like 'ajar\\_rb%'")).rows.map((r) => r.rolname);
    if (left.length) await admin.query(`drop role ${left.join(', ')}`);
  };
  await dropLeftovers();
  try {
    for (const kind of ['pglite', 'postgres']) {
      const runs = [];
      for (let round = 0; round < ROUNDS; round++) {
        const dir = mkdtempSync(join(tmpdir(), 'ajar-revbench-'));
        let ajarDb;
        let ajarDbName;
        if (kind === 'postgres') {
          ajarDbName = `ajar_revbench_store_${process.pid}_${round}`;
          await admin.query(`create database ${ajarDbName}`);
        }
        const database = await openDatabase({ url: kind === 'postgres' ? urlOf(ajarDbName) : undefined, dataDir: dir });
        try {
          await migrate(database.db);
          const config = parseConfig(
            `users:\n  u: {}\nresources:\n  - id: postgres:orders\ncredentials:\n  postgres:\n    orders: { admin_url_env: AJAR_BENCH_TARGET_URL, role: revbench_reader, connect: { host: 127.0.0.1, database: ${target} } }\n`,
            'bench.yaml',
          );
          const clock = manualClock(new Date(END.getTime() - 60_000));
          const ctx = makeContext(database, config, clock, createLogger({ level: 'silent' }));
          // 1,000 grants ending at END, each with its role (made directly: this measures taking back).
          const names = Array.from({ length: N }, (_, i) => `ajar_rb${round}_${i}`);
          const created = new Date(END.getTime() - 3600_000);
          for (let b = 0; b < N; b += 500) {
            const slice = names.slice(b, b + 500);
            await database.db
              .insertInto('access_requests')
              .values(slice.map((n) => ({ id: `req_${n}`, requester: 'u', resources: '["postgres:orders"]', actions: '["connect"]', duration_seconds: 3600, reason: 'bench', state: 'approved', plan: '{}', policy_version: 'bench', created_at: created, expires_at: END, decided_at: created, decided_by: 'bench' })))
              .execute();
            await database.db
              .insertInto('grants')
              .values(slice.map((n) => ({ id: `grt_${n}`, request_id: `req_${n}`, subject: 'u', resources: '["postgres:orders"]', actions: '["connect"]', starts_at: created, ends_at: END, state: 'active', auto_approved: true, created_at: created })))
              .execute();
            await database.db
              .insertInto('credentials')
              .values(slice.map((n) => ({ id: `crd_${n}`, grant_id: `grt_${n}`, subject: 'u', kind: 'postgres-role', target: 'postgres:orders', name: n, issued_at: created, expires_at: END })))
              .execute();
            await t.query(slice.map((n) => `create role ${n} login in role revbench_reader;`).join('\n'));
          }
          const sessions = [];
          for (const n of names.slice(0, SESSIONS)) {
            const c = new pg.Client({ connectionString: urlOf(target), user: n });
            c.on('error', () => {});
            await c.connect();
            sessions.push(c);
          }
          clock.set(END);
          const t0 = performance.now();
          const revoked = await revokeEndedCredentials(ctx);
          const left = (await t.query('select count(*)::int as n from pg_roles where rolname = any($1)', [names])).rows[0].n;
          const ms = performance.now() - t0;
          const alive = (await t.query('select count(*)::int as n from pg_stat_activity where usename = any($1)', [names])).rows[0].n;
          if (revoked !== N || left !== 0 || alive !== 0) throw new Error(`round ${round} on ${kind}: revoked ${revoked}, roles left ${left}, sessions left ${alive}`);
          runs.push(ms);
          await Promise.all(sessions.map((c) => c.end().catch(() => {})));
        } finally {
          await database.close();
          rmSync(dir, { recursive: true, force: true });
          if (ajarDbName) await admin.query(`drop database if exists ${ajarDbName} with (force)`);
        }
      }
      const sorted = [...runs].sort((x, y) => x - y);
      results.push({ ajarDatabase: kind, runsMs: runs.map((x) => +x.toFixed(1)), medianMs: +sorted[Math.floor(sorted.length / 2)].toFixed(1), maxMs: +sorted.at(-1).toFixed(1) });
    }
  } finally {
    await t.end();
    await admin.query(`drop database if exists ${target} with (force)`);
    await dropLeftovers().catch(() => {});
    await admin.query(`drop role if exists revbench_reader`).catch(() => {});
    await admin.end();
  }
  const sweepInterval = 1;
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    grants: N,
    openSessions: SESSIONS,
    sweepIntervalSeconds: sweepInterval,
    goalSeconds: GOAL_S,
    results,
    worstLagSeconds: +(sweepInterval + Math.max(...results.map((r) => r.maxMs)) / 1000).toFixed(2),
  };
  out.goalMet = out.worstLagSeconds <= GOAL_S;
  writeFileSync(join(ROOT, 'bench', 'results', 'revocation-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`revocation of ${N} PostgreSQL roles (${SESSIONS} with open sessions), ending in the same second:`);
  for (const r of results) console.log(`  Ajar on ${r.ajarDatabase.padEnd(8)} sweep work median ${r.medianMs} ms, max ${r.maxMs} ms`);
  console.log(`  worst lag with sweep_interval ${sweepInterval}s: ${out.worstLagSeconds} s (goal <= ${GOAL_S} s): ${out.goalMet ? 'met' : 'NOT met'}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

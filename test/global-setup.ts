// One migrated database template for the whole run: every test file clones it
// instead of creating a database (PGlite takes seconds and hundreds of MB to
// create one). AJAR_TEST_DB=postgres runs against the PostgreSQL at
// 127.0.0.1:5432 (or TEST_DATABASE_URL) instead of the embedded database.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

export default async function setup(project: TestProject) {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does it)');
  const kind = process.env.AJAR_TEST_DB ?? 'pglite';
  const root = mkdtempSync(join(tmpdir(), 'ajar-test-'));
  if (kind === 'pglite') {
    const template = join(root, 'template');
    execFileSync(process.execPath, [CLI, 'db', 'migrate', '--data-dir', template], { stdio: 'pipe', env: { ...process.env, DATABASE_URL: '' } });
    project.provide('ajarTest', { kind, root, template });
    return () => rmSync(root, { recursive: true, force: true });
  }
  if (kind !== 'postgres') throw new Error(`AJAR_TEST_DB is "${kind}"; use pglite or postgres`);
  const admin = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const template = `ajar_tpl_${process.pid}_${Date.now()}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`create database ${template}`);
  await c.end();
  const url = new URL(admin);
  url.pathname = `/${template}`;
  execFileSync(process.execPath, [CLI, 'db', 'migrate'], { stdio: 'pipe', env: { ...process.env, DATABASE_URL: url.toString() } });
  project.provide('ajarTest', { kind, root, template, adminUrl: admin });
  return async () => {
    const d = new pg.Client({ connectionString: admin });
    await d.connect();
    const dbs = await d.query(`select datname from pg_database where datname like $1`, [`${template}%`]);
    for (const r of dbs.rows) await d.query(`drop database if exists ${r.datname} with (force)`);
    await d.end();
    rmSync(root, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    ajarTest: { kind: string; root: string; template: string; adminUrl?: string };
  }
}

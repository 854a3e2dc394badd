// Opens the database: PostgreSQL when a URL is given, otherwise the embedded
// PGlite database in the data directory (locked against a second process).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.js';
import type { DB } from './schema.js';

export interface Database {
  db: Kysely<DB>;
  kind: 'postgres' | 'pglite';
  /** a description without secrets, for logs */
  describe: string;
  close(): Promise<void>;
}

// Return timestamps as Date and 64-bit integers as strings on both engines.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => v);

export async function openDatabase(opts: { url?: string | undefined; dataDir: string }): Promise<Database> {
  if (opts.url) return openPostgres(opts.url);
  return openEmbedded(opts.dataDir);
}

function openPostgres(url: string): Database {
  let safe: string;
  try {
    const u = new URL(url);
    u.password = u.password ? '***' : '';
    safe = u.toString();
  } catch {
    throw new Error('DATABASE_URL is not a valid URL; expected postgres://user@host:5432/dbname');
  }
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
  // A failed idle connection must not crash the process; queries will report it.
  pool.on('error', () => {});
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: 'postgres', describe: `PostgreSQL ${safe}`, close: () => db.destroy() };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(dir);
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const pgl = await PGlite.create(join(dir, 'pgdata'));
    const db = new Kysely<DB>({ dialect: new PGliteDialect(pgl) });
    return {
      db,
      kind: 'pglite',
      describe: `embedded database in ${dir}`,
      async close() {
        await db.destroy();
        await pgl.close();
        unlock();
      },
    };
  } catch (e) {
    unlock();
    throw e;
  }
}

export class DataDirLockedError extends Error {}

/**
 * PGlite does not lock its directory, and a second process writing to it loses
 * data silently. We hold a lock file with our pid; a lock whose process is gone
 * is taken over.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'ajar.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
        } catch {
          /* already gone */
        }
      };
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new DataDirLockedError(
          `the embedded database in ${dir} is in use by process ${pid} (an "ajar serve"?). ` +
            `Only one process may open it: stop that process, or talk to it (ajar commands do so through ${join(dir, 'ajar.sock')}), ` +
            `or use PostgreSQL (DATABASE_URL) to run several processes.`,
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

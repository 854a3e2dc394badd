// A small Kysely dialect for the embedded PGlite database. PGlite has a single
// connection, so the driver hands it out to one user at a time: a transaction
// holds it from BEGIN to COMMIT and every other query waits its turn.
import type { PGlite } from '@electric-sql/pglite';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

class Mutex {
  private tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => next);
    return prev.then(() => release);
  }
}

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly db: PGlite) {}
  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    if (q.parameters.length === 0) {
      // Without parameters run it as a simple query, which may hold several statements (migrations).
      const all = await this.db.exec(q.sql);
      const last = all[all.length - 1];
      const n = last?.affectedRows;
      return { rows: (last?.rows ?? []) as R[], ...(n !== undefined ? { numAffectedRows: BigInt(n) } : {}) };
    }
    const res = await this.db.query<R>(q.sql, q.parameters as unknown[]);
    const n = res.affectedRows;
    return { rows: res.rows, ...(n !== undefined ? { numAffectedRows: BigInt(n) } : {}) };
  }
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the embedded database');
  }
}

class PGliteDriver implements Driver {
  private readonly mutex = new Mutex();
  private readonly conn: PGliteConnection;
  private held: (() => void) | undefined;
  constructor(private readonly db: PGlite) {
    this.conn = new PGliteConnection(db);
  }
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.mutex.lock();
    this.held = release;
    return this.conn;
  }
  async beginTransaction(_c: DatabaseConnection, s: TransactionSettings) {
    const iso = s.isolationLevel ? ` isolation level ${s.isolationLevel}` : '';
    await this.db.exec(`begin${iso}`);
  }
  async commitTransaction() {
    await this.db.exec('commit');
  }
  async rollbackTransaction() {
    await this.db.exec('rollback');
  }
  async releaseConnection() {
    const r = this.held;
    this.held = undefined;
    r?.();
  }
  async destroy() {}
}

export class PGliteDialect implements Dialect {
  constructor(private readonly db: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver() {
    return new PGliteDriver(this.db);
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

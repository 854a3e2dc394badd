// Runs the real `ajar` CLI and a real `ajar serve` process on a clone of the
// migrated template database (PGlite or PostgreSQL, per AJAR_TEST_DB).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
export const EXAMPLE_CONFIG = join(import.meta.dirname, '..', '..', 'examples', 'ajar.yaml');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Ajar {
  url: string;
  dataDir: string;
  configFile: string;
  databaseUrl: string | undefined;
  /** run the CLI; `as` picks the token of that identity, none = local admin */
  cli(args: string[], opts?: { as?: string; stdin?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** run the CLI and parse --json output; fails the test on a non-zero exit */
  json<T = any>(args: string[], opts?: { as?: string }): Promise<T>;
  token(user: string): Promise<string>;
  api(method: string, path: string, opts?: { as?: string; token?: string; body?: unknown; raw?: string }): Promise<{ status: number; body: any; text: string }>;
  setClock(iso: string | Date): void;
  advance(seconds: number): void;
  now(): Date;
  stop(): Promise<void>;
  /** start again; `serverEnv` adds to (or replaces) the server's environment from now on */
  start(serverEnv?: Record<string, string>): Promise<void>;
  /** SQL straight on the database (PostgreSQL only while the server runs) */
  sql(text: string, params?: unknown[]): Promise<any[]>;
  serverLog(): string;
  signal(sig: NodeJS.Signals): void;
  /** the process id of the running server */
  pid(): number | undefined;
  /** kill -9 the server (no shutdown at all) and wait until it is gone */
  crash(): Promise<void>;
}

let counter = 0;

export async function startAjar(opts: { config?: string; clock?: string; shareDatabaseOf?: Ajar; serverEnv?: Record<string, string> } = {}): Promise<Ajar> {
  const t = inject('ajarTest');
  const dir = mkdtempSync(join(t.root, 'run-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'ajar.yaml');
  writeFileSync(configFile, opts.config ?? readFileSync(EXAMPLE_CONFIG, 'utf8'));
  const clockFile = join(dir, 'clock');
  // A second process on the same database runs on the same (test) clock, as servers synchronised by NTP would.
  writeFileSync(clockFile, opts.clock ?? opts.shareDatabaseOf?.now().toISOString() ?? '2026-11-23T09:00:00.000Z');
  let databaseUrl: string | undefined;
  if (opts.shareDatabaseOf) databaseUrl = opts.shareDatabaseOf.databaseUrl;
  else if (t.kind === 'postgres') {
    const name = `${t.template}_${process.pid}_${++counter}`;
    const c = new pg.Client({ connectionString: t.adminUrl });
    await c.connect();
    await c.query(`create database ${name} template ${t.template}`);
    await c.end();
    const u = new URL(t.adminUrl!);
    u.pathname = `/${name}`;
    databaseUrl = u.toString();
  } else {
    cpSync(t.template, dataDir, { recursive: true });
  }
  const tokens = new Map<string, string>();
  const env = (extra: Record<string, string> = {}) => ({
    ...process.env,
    AJAR_UNSAFE_CLOCK_FILE: clockFile,
    AJAR_DATA_DIR: dataDir,
    AJAR_CONFIG: configFile,
    DATABASE_URL: databaseUrl ?? '',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'xdg'),
    AJAR_URL: '',
    AJAR_TOKEN: '',
    ...extra,
  });
  let proc: ChildProcess | undefined;
  let log = '';
  let url = '';
  let port = 0;

  const ajar: Ajar = {
    get url() {
      return url;
    },
    dataDir,
    configFile,
    databaseUrl,
    async cli(args, o = {}) {
      const extra: Record<string, string> = { ...(o.env ?? {}) };
      if (o.as) {
        extra.AJAR_URL = url;
        extra.AJAR_TOKEN = await ajar.token(o.as);
      }
      return run(process.execPath, [CLI, ...args], env(extra), o.stdin);
    },
    async json(args, o = {}) {
      const r = await ajar.cli([...args, '--json'], o);
      if (r.code !== 0) throw new Error(`ajar ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async token(user) {
      let tok = tokens.get(user);
      if (!tok) {
        const r = await run(process.execPath, [CLI, 'token', 'create', '--user', user, '--ttl', '300d'], env());
        if (r.code !== 0) throw new Error(`token create ${user}: ${r.stderr}`);
        tok = r.stdout.trim();
        tokens.set(user, tok);
      }
      return tok;
    },
    async api(method, path, o = {}) {
      const headers: Record<string, string> = {};
      const token = o.token ?? (o.as ? await ajar.token(o.as) : undefined);
      if (token) headers.authorization = `Bearer ${token}`;
      if (o.body !== undefined || o.raw !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(url + path, { method, headers, body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : null) });
      const text = await res.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text };
    },
    setClock(iso) {
      // Written aside and renamed into place: a server or CLI reading it meanwhile never sees it empty.
      writeFileSync(`${clockFile}.new`, new Date(iso).toISOString());
      renameSync(`${clockFile}.new`, clockFile);
    },
    advance(seconds) {
      ajar.setClock(new Date(ajar.now().getTime() + seconds * 1000));
    },
    now() {
      return new Date(readFileSync(clockFile, 'utf8').trim());
    },
    async start(serverEnv) {
      if (serverEnv) opts = { ...opts, serverEnv: { ...opts.serverEnv, ...serverEnv } };
      // Outside the kernel's ephemeral range (32768–60999 here): a port Ajar got from
      // listen(0) can be taken, while it is stopped, as the local port of some outgoing
      // connection (a pooled PostgreSQL client), and the restart on it would fail.
      if (port === 0) port = await freePort();
      proc = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1'], { env: env({ AJAR_LOG_LEVEL: 'info', ...opts.serverEnv }), stdio: ['ignore', 'pipe', 'pipe'] });
      // Only this run's output: after a restart the log already says "listening" from the
      // last run, and a stop sent before this one is up would kill it mid-start.
      const from = log.length;
      url = await new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`ajar serve did not start:\n${log}`)), 60_000);
        proc!.stdout!.on('data', (d: Buffer) => {
          log += d.toString();
          const m = /ajar listening on (\S+)/.exec(log.slice(from));
          if (m) {
            clearTimeout(timer);
            ok(m[1]!);
          }
        });
        proc!.stderr!.on('data', (d: Buffer) => {
          log += d.toString();
        });
        proc!.once('exit', (code) => {
          clearTimeout(timer);
          fail(new Error(`ajar serve exited ${code}:\n${log}`));
        });
      });
      port = Number(new URL(url).port);
    },
    async stop() {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const p = proc;
      await new Promise<void>((ok) => {
        p.once('exit', () => ok());
        p.kill('SIGTERM');
      });
      proc = undefined;
    },
    async sql(text, params = []) {
      if (databaseUrl) {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        try {
          const r = await c.query(text, params);
          return (Array.isArray(r) ? r.at(-1)?.rows : r.rows) ?? [];
        } finally {
          await c.end();
        }
      }
      // The embedded database can only be opened while no server holds it.
      const { PGlite } = await import('@electric-sql/pglite');
      const db = await PGlite.create(join(dataDir, 'pgdata'));
      try {
        if (params.length > 0) return (await db.query(text, params)).rows as any[];
        const all = await db.exec(text);
        return (all.at(-1)?.rows ?? []) as any[];
      } finally {
        await db.close();
      }
    },
    serverLog: () => log,
    pid: () => proc?.pid,
    signal: (sig) => {
      proc?.kill(sig);
    },
    async crash() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((ok) => {
        p.once('exit', () => ok());
        p.kill('SIGKILL');
      });
    },
  };
  await ajar.start();
  return ajar;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<CliResult> {
  return new Promise((ok) => {
    const child = execFile(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      ok({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.on('error', () => {}); // the command may exit before reading its input
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/** A free port below the ephemeral range, picked at random so parallel test files rarely meet. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const candidate = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise<boolean>((done) => {
      const s = createServer();
      s.once('error', () => done(false));
      s.listen(candidate, '127.0.0.1', () => s.close(() => done(true)));
    });
    if (ok) return candidate;
  }
  throw new Error('no free port between 20000 and 32000');
}

export const isPostgres = () => inject('ajarTest').kind === 'postgres';

/** Ask again every 100 ms, up to 5 s, until `ok`: for what a server does on its own (a file watcher polling each second). */
export async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await what();
  for (let i = 0; i < 50 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await what();
  }
  return v;
}

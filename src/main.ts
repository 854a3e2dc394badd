// The composition root: the one place where config, database, clock, logger,
// use cases, HTTP servers and workers are wired together.
import { mkdirSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, type Server } from 'node:http';
import { createAdaptorServer, getRequestListener } from '@hono/node-server';
import { type AppContext, localAdmin, policyVersion } from './app/context.js';
import { watchConfig } from './app/reload.js';
import { secretsKeyProblems } from './app/secrets.js';
import { startSweeper } from './app/sweep.js';
import { SENDERS } from './notify/senders.js';
import { startOutboxWorker } from './notify/outbox.js';
import { notifyEnvProblems } from './notify/env.js';
import { type Config, ConfigError, loadConfigFile } from './config.js';
import { type Clock, clockFromEnv } from './domain/clock.js';
import { createGitGateway } from './gateway/git/http-gateway.js';
import { GIT_PREFIX } from './gateway/git/http-path.js';
import { createHgGateway, HG_PREFIX } from './gateway/hg/http-gateway.js';
import { findHgPython, type HgwebWorker, startHgwebWorker } from './gateway/hg/hgweb-worker.js';
import { startSpawner } from './gateway/spawner.js';
import { createHttpApp } from './http/server-app.js';
import { createLogger, type Logger } from './logger.js';
import { socketAlive } from './socket-alive.js';
import { type Database, openDatabase } from './store/database.js';
import { migrate, pendingMigrations } from './store/migrations.js';

export interface StoreOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
}


/** Open the database, migrating the embedded one; PostgreSQL is migrated by `ajar db migrate`. */
export async function openStore(opts: StoreOptions): Promise<Database> {
  const database = await openDatabase({ url: opts.databaseUrl, dataDir: opts.dataDir });
  try {
    if (database.kind === 'pglite') await migrate(database.db);
    else {
      const pending = await pendingMigrations(database.db);
      if (pending.length > 0) {
        throw new Error(`the PostgreSQL schema is not up to date (${pending.length} migration(s) pending: ${pending.join(', ')}); run \`ajar db migrate\` first`);
      }
    }
    return database;
  } catch (e) {
    await database.close().catch(() => {});
    if (database.kind === 'postgres' && !(e instanceof Error && e.message.includes('ajar db migrate'))) {
      throw new Error(`cannot use ${database.describe}: ${(e as Error).message}. Check DATABASE_URL and that PostgreSQL is running`);
    }
    throw e;
  }
}

export function makeContext(database: Database, config: Config, clock: Clock, log: Logger): AppContext {
  return { db: database.db, config, clock, log, policyVersion: policyVersion(config) };
}

export interface ServeOptions extends StoreOptions {
  configFile: string;
  host?: string | undefined;
  port?: number | undefined;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const log = createLogger();
  const config = loadConfigFile(opts.configFile);
  const notifyMissing = [...notifyEnvProblems(config, process.env), ...secretsKeyProblems(config, process.env)];
  if (notifyMissing.length) throw new ConfigError(notifyMissing);
  if (config.git.root) mkdirSync(config.git.root, { recursive: true, mode: 0o750 });
  if (config.hg.root) mkdirSync(config.hg.root, { recursive: true, mode: 0o750 });
  // Mercurial is served by a warm hgweb; find the Python that has it. Without it the
  // rest of Ajar still runs, and /hg/ says what is missing.
  let hgPython: string | undefined;
  let hgMissing: string | undefined;
  const hgHome = join(resolve(opts.dataDir), 'hg-home');
  if (config.hg.root) {
    try {
      mkdirSync(hgHome, { recursive: true, mode: 0o700 });
      hgPython = findHgPython(config.hg.python, hgHome);
    } catch (e) {
      hgMissing = (e as Error).message;
      log.warn({ problem: hgMissing }, 'Mercurial repositories are not served');
    }
  }
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Started while this process is small: it starts git for the gateway (see spawner-main.ts).
  const spawner = config.git.root ? await startSpawner(join(dataDir, 'spawner.sock'), log) : undefined;
  let database: Database | undefined;
  let hgweb: HgwebWorker | undefined;
  let stopWorkers: (() => Promise<void>) | undefined;
  let http: Server | undefined;
  let admin: ReturnType<typeof createAdaptorServer> | undefined;
  const socketPath = join(dataDir, 'ajar.sock');
  // Everything started so far, stopped in order: on close, and when the start fails
  // half way (a port in use must not leave the hgweb worker or the spawner behind).
  const shutdown = async () => {
    await stopWorkers?.();
    await hgweb?.stop();
    await spawner?.stop();
    await Promise.all([http?.listening ? closeServer(http) : Promise.resolve(), admin ? closeServer(admin) : Promise.resolve()]);
    if (admin) rmSync(socketPath, { force: true });
    await database?.close();
  };
  try {
    database = await openStore({ ...opts, dataDir });
    const clock = clockFromEnv(log);
    const ctx = makeContext(database, config, clock, log);
    const stopSweeper = startSweeper(ctx, config.workers.sweepIntervalSeconds);
    const stopOutbox = startOutboxWorker(ctx, SENDERS, config.workers.notifyIntervalSeconds);
    const stopWatching = watchConfig(ctx, opts.configFile);
    stopWorkers = async () => {
      stopWatching();
      await stopSweeper();
      await stopOutbox();
    };

    const host = opts.host ?? config.server.host;
    const port = opts.port ?? config.server.port;
    let hookUrl = '';
    // /git/ goes to the Git gateway (raw Node streams, no copies); the rest to the API.
    const api = getRequestListener(createHttpApp(ctx).fetch);
    const git = createGitGateway(ctx, { hookUrl: () => hookUrl, spawner });
    hgweb = hgPython ? startHgwebWorker({ python: hgPython, socketPath: join(dataDir, 'hgweb.sock'), home: hgHome, log }) : undefined;
    if (hgweb) await hgweb.ready();
    const worker = hgweb;
    const hg = createHgGateway(ctx, { worker: () => worker, hookUrl: () => hookUrl, unavailable: hgMissing });
    const server = createServer((req, res) => {
      if (req.url?.startsWith(GIT_PREFIX)) void git(req, res);
      else if (req.url?.startsWith(HG_PREFIX)) void hg(req, res);
      else void api(req, res);
    });
    http = server;
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => ok());
    });
    const addr = server.address();
    const boundPort = typeof addr === 'object' && addr ? addr.port : port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
    // The pre-receive hook asks this process over loopback.
    const loopback = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    hookUrl = `http://${loopback.includes(':') ? `[${loopback}]` : loopback}:${boundPort}`;

    // The admin socket: whoever can open it (file mode 0600) is the host's admin,
    // like tctl on a Teleport auth server. Admin commands use it while we hold the database.
    if (!(await socketAlive(socketPath))) {
      rmSync(socketPath, { force: true });
      const adminServer = createAdaptorServer({ fetch: createHttpApp(ctx, localAdmin(userInfo().username)).fetch });
      const oldMask = process.umask(0o177);
      try {
        await new Promise<void>((ok, fail) => {
          adminServer.once('error', fail);
          adminServer.listen(socketPath, () => ok());
        });
        admin = adminServer;
      } finally {
        process.umask(oldMask);
      }
    } else {
      log.warn({ socketPath }, 'another Ajar process serves the admin socket of this data directory');
    }

    log.info({ url, database: database.describe, config: opts.configFile, policyVersion: ctx.policyVersion, git: config.git.root ? `${url}/git/ (${config.git.root})` : 'off' }, 'ajar is serving');
    let closing: Promise<void> | undefined;
    return {
      url,
      close() {
        closing ??= shutdown();
        return closing;
      },
    };
  } catch (e) {
    await shutdown().catch(() => {});
    throw e;
  }
}

function closeServer(s: ReturnType<typeof createAdaptorServer> | Server): Promise<void> {
  return new Promise((ok) => {
    s.close(() => ok());
    (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}


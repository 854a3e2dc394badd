// How the CLI reaches Ajar. Every command speaks the HTTP API, over one of:
//  - the network, with AJAR_URL + AJAR_TOKEN (or the file `ajar login` writes);
//  - the admin socket in the data directory of a running `ajar serve` on this host;
//  - in process, opening the database itself, when no server holds it.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { clockFromEnv } from '../domain/clock.js';
import { socketAlive } from '../socket-alive.js';

export interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export interface Client {
  /** where requests go, for messages */
  target: string;
  call(method: string, path: string, body?: unknown): Promise<Reply>;
  close(): Promise<void>;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
    /** the API's error code, when the error is the API's answer */
    readonly apiCode?: string,
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  local?: boolean;
}

export function loginFile(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'ajar', 'login.json');
}

export function readLogin(): { url: string; token: string; user?: string } | undefined {
  try {
    const j = JSON.parse(readFileSync(loginFile(), 'utf8')) as { url?: unknown; token?: unknown; user?: unknown };
    if (typeof j.url === 'string' && typeof j.token === 'string') return { url: j.url, token: j.token, ...(typeof j.user === 'string' ? { user: j.user } : {}) };
  } catch {
    /* no login */
  }
  return undefined;
}

export function remoteSettings(): { url: string; token: string } | undefined {
  const login = readLogin();
  const url = process.env.AJAR_URL || login?.url;
  const token = process.env.AJAR_TOKEN || login?.token;
  if (url && token) return { url, token };
  if (url || token) {
    throw new CliError(`${url ? 'AJAR_TOKEN' : 'AJAR_URL'} is not set: set both AJAR_URL and AJAR_TOKEN, or run \`ajar login\``);
  }
  return undefined;
}

export function remoteClient(url: string, token: string): Client {
  const base = url.replace(/\/+$/, '');
  return {
    target: base,
    async call(method, path, body) {
      let res: Response;
      try {
        res = await fetch(base + path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: body !== undefined ? JSON.stringify(body) : null,
          signal: AbortSignal.timeout(60_000),
        });
      } catch (e) {
        throw new CliError(`cannot reach Ajar at ${base}: ${(e as Error).cause ? String(((e as Error).cause as Error).message ?? (e as Error).cause) : (e as Error).message}`);
      }
      return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
    },
    async close() {},
  };
}

function socketClient(socketPath: string): Client {
  return {
    target: `admin socket ${socketPath}`,
    call(method, path, body) {
      return new Promise((ok, fail) => {
        const payload = body !== undefined ? JSON.stringify(body) : undefined;
        const req = httpRequest(
          { socketPath, path, method, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              ok({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, text: Buffer.concat(chunks).toString('utf8') }),
            );
            res.on('error', fail);
          },
        );
        req.on('error', (e) => fail(new CliError(`cannot reach the Ajar admin socket ${socketPath}: ${e.message}`)));
        if (payload) req.write(payload);
        req.end();
      });
    },
    async close() {},
  };
}

function configPath(g: GlobalOptions): string | undefined {
  return g.config || process.env.AJAR_CONFIG || undefined;
}

export function dataDirOf(g: GlobalOptions): string {
  return resolve(g.dataDir || process.env.AJAR_DATA_DIR || '.ajar');
}

/** Talk to Ajar as this host's admin: through a running server's socket, or by opening the database. */
export async function localClient(g: GlobalOptions): Promise<Client> {
  const dataDir = dataDirOf(g);
  const socketPath = join(dataDir, 'ajar.sock');
  if (await socketAlive(socketPath)) return socketClient(socketPath);
  const file = configPath(g);
  if (!file) {
    throw new CliError(
      `no Ajar server is running with data directory ${dataDir}, and no config file was given to open the database directly: pass --config FILE (or set AJAR_CONFIG), or --data-dir DIR of the running server`,
    );
  }
  // The server's code, loaded only here: a command that talks to Ajar over the network
  // starts without it (a fraction of the time).
  const [{ localAdmin }, { ConfigError, loadConfigFile }, { createLogger }, { makeContext, openStore }, { createHttpApp }] = await Promise.all([
    import('../app/context.js'),
    import('../config.js'),
    import('../logger.js'),
    import('../main.js'),
    import('../http/server-app.js'),
  ]);
  let config;
  try {
    config = loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message);
    throw e;
  }
  const log = createLogger({ level: process.env.AJAR_LOG_LEVEL ?? 'warn' });
  let database;
  try {
    database = await openStore({ dataDir, databaseUrl: process.env.DATABASE_URL });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const ctx = makeContext(database, config, clockFromEnv(), log);
  const app = createHttpApp(ctx, localAdmin(userInfo().username));
  return {
    target: database.describe,
    async call(method, path, body) {
      const res = await app.request(path, {
        method,
        headers: body !== undefined ? { 'content-type': 'application/json' } : {},
        body: body !== undefined ? JSON.stringify(body) : null,
      });
      return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
    },
    close: () => database.close(),
  };
}

/** The client for a command: the network when configured (and not --local), else local admin. */
export async function clientFor(g: GlobalOptions): Promise<Client> {
  if (!g.local) {
    const remote = remoteSettings();
    if (remote) return remoteClient(remote.url, remote.token);
  }
  return localClient(g);
}

/** Call and return the JSON body, turning API errors into CLI errors. */
export async function callJson<T = any>(client: Client, method: string, path: string, body?: unknown): Promise<T> {
  const r = await client.call(method, path, body);
  let json: any;
  try {
    json = r.text ? JSON.parse(r.text) : {};
  } catch {
    throw new CliError(`unexpected answer from ${client.target} (HTTP ${r.status})`);
  }
  if (r.status >= 400) {
    const e = json?.error;
    throw new CliError(e ? `${e.message} [${e.code}]` : `HTTP ${r.status}`, 2, e?.code);
  }
  return json as T;
}

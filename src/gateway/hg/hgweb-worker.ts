// The warm hgweb: one long-lived Python process running Mercurial's own hgweb
// as a WSGI application on a Unix socket in the data directory (mode 0600),
// so no request pays Python's start-up. Restarted if it dies; exits when Ajar
// does (its standard input, held open by Ajar, closes).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Logger } from '../../logger.js';

export const HG_HOOKS_DIR = resolve(import.meta.dirname, '..', '..', '..', 'hooks', 'hg');
export const HG_HOOK_MODULE = resolve(HG_HOOKS_DIR, 'ajar_hg.py');

/**
 * The Python that has Mercurial: the configured one, or the one `hg` itself
 * runs with (`python3` on PATH may be another, e.g. a pyenv one without it).
 */
export function findHgPython(configured: string | undefined, home: string): string {
  const candidates: string[] = [];
  if (configured) candidates.push(configured);
  else {
    try {
      const exe = execFileSync('hg', ['debuginstall', '-T', '{pythonexe}'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: hgEnv(home) }).trim();
      if (exe) candidates.push(exe);
    } catch {
      /* no hg on PATH: try the usual place */
    }
    candidates.push('/usr/bin/python3');
  }
  for (const py of candidates) {
    try {
      execFileSync(py, ['-c', 'import mercurial.hgweb'], { stdio: 'ignore' });
      return py;
    } catch {
      /* not this one */
    }
  }
  throw new Error(
    `no Python with Mercurial found (tried ${candidates.join(', ')}); install Mercurial (Debian: apt install mercurial) or set hg.python in the config to the interpreter that has it`,
  );
}

/**
 * The environment of Mercurial processes Ajar starts: nothing inherited but PATH
 * and a HOME. Mercurial trusts `$HOME/.hgrc` fully (extensions run code), so HOME
 * is never a shared directory like /tmp: it is the account's own home, or a
 * private directory of Ajar's.
 */
export function hgEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    HGENCODING: 'utf-8',
    HGUSER: 'ajar',
    ...extra,
  };
}

/** What Ajar tells hgweb about one request it let through. */
export interface HgwebContext {
  user: string;
  write: boolean;
  repoDir: string;
  repo: string;
  remoteAddr: string;
  session?: string | undefined;
  hookUrl?: string | undefined;
}

export interface HgwebWorker {
  socketPath: string;
  /**
   * The X-Ajar-Context header: the context signed with this worker's secret.
   * Client headers reach hgweb as well; only a value with this signature is
   * taken as Ajar's (see ajar_hgweb.py).
   */
  sign(context: HgwebContext): string;
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/** `payload.mac`: base64url JSON and its hex HMAC-SHA256 under `secret`. */
export function signContext(secret: Buffer, context: HgwebContext): string {
  const payload = Buffer.from(JSON.stringify(context)).toString('base64url');
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('hex')}`;
}

/** `home`: a private directory (0700) of Ajar's, Mercurial's HOME. */
export function startHgwebWorker(opts: { python: string; socketPath: string; home: string; log: Logger }): HgwebWorker {
  let child: ChildProcess | undefined;
  let stopping = false;
  let readyPromise: Promise<void>;
  // Handed over on standard input, never in the environment (which hooks and their children inherit).
  const secret = randomBytes(32);
  const launch = () => {
    readyPromise = new Promise((ok, fail) => {
      const c = spawn(opts.python, [resolve(HG_HOOKS_DIR, 'ajar_hgweb.py'), opts.socketPath], { env: hgEnv(opts.home), stdio: ['pipe', 'pipe', 'pipe'] });
      child = c;
      c.stdin!.on('error', () => {});
      // Kept open: its end tells the worker that Ajar is gone.
      c.stdin!.write(`${secret.toString('hex')}\n`);
      let out = '';
      let err = '';
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ajar-hgweb ready')) ok();
      });
      c.stderr!.on('data', (d: Buffer) => {
        if (err.length < 8192) err += d.toString();
      });
      c.on('exit', (code, signal) => {
        fail(new Error(`the hgweb worker exited (${code ?? signal}) before it was ready: ${err.slice(0, 2000)}`));
        if (stopping) return;
        opts.log.error({ code, signal, stderr: err.slice(0, 2000) }, 'the hgweb worker exited; restarting it');
        setTimeout(() => {
          if (!stopping) launch();
        }, 1000).unref();
      });
    });
    readyPromise.catch(() => {});
  };
  launch();
  return {
    socketPath: opts.socketPath,
    sign: (context) => signContext(secret, context),
    ready: () => readyPromise,
    async stop() {
      stopping = true;
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((ok) => {
        c.once('exit', () => ok());
        c.kill('SIGTERM');
      });
    },
  };
}

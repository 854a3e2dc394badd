// Runs a CGI program (git http-backend, hgweb) for one HTTP request: spawned
// with an argument array and a curated environment (never a shell), the
// request body piped in and the response streamed out, both with backpressure,
// so a 1 GB push never sits in memory.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../logger.js';
import type { Spawner } from './spawner.js';

export interface CgiOptions {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string | undefined;
  log: Logger;
  /** start the program through the small spawner process (fast from a big process) */
  spawner?: Spawner | undefined;
}

const MAX_HEADER_BYTES = 64 * 1024;

interface CgiChild {
  input: Writable;
  /** the program's output, chunk by chunk; a chunk is valid until `next` is called (see SpawnedProgram) */
  read(onChunk: (chunk: Buffer, next: () => void) => void, onEnd: () => void): void;
  kill(): void;
  /** stderr and exit, when the program is our own child */
  stderr?: Readable | undefined;
  onExit?(fn: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  onError?(fn: (e: Error) => void): void;
}

async function startCgi(opts: CgiOptions): Promise<CgiChild> {
  if (opts.spawner) return opts.spawner.run({ command: opts.command, args: opts.args, env: opts.env, cwd: opts.cwd });
  const child = spawn(opts.command, opts.args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], shell: false });
  const out = child.stdout;
  out.on('error', () => {});
  return {
    input: child.stdin,
    read(onChunk, onEnd) {
      out.on('data', (d: Buffer) => {
        out.pause();
        onChunk(d, () => out.resume());
      });
      out.on('end', onEnd);
    },
    stderr: child.stderr,
    kill: () => {
      if (child.exitCode === null && !child.killed) child.kill('SIGTERM');
    },
    onExit: (fn) => child.on('close', fn),
    onError: (fn) => child.on('error', fn),
  };
}

/** Resolves when the response has been sent (or the client went away). */
export async function runCgi(req: IncomingMessage, res: ServerResponse, opts: CgiOptions): Promise<void> {
  let child: CgiChild;
  try {
    child = await startCgi(opts);
  } catch (e) {
    opts.log.error({ program: opts.command, err: String(e) }, 'cannot start the cgi program');
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('ajar: the git server failed to answer; try again\n');
    }
    return;
  }
  return new Promise((done) => {
    let headerBuf: Buffer | null = Buffer.alloc(0);
    let stderr = '';
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      done();
    };
    const fail = (why: string) => {
      opts.log.error({ program: opts.command, why, stderr: stderr.slice(0, 2000) }, 'cgi program failed');
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('ajar: the git server failed to answer; try again\n');
      } else res.destroy();
      child.kill();
      finish();
    };

    child.onError?.((e) => fail(`cannot run: ${e.message}`));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    // The client went away: stop the program instead of letting it run on.
    res.on('close', () => {
      if (!res.writableFinished) child.kill();
      finish();
    });
    req.on('error', () => child.kill());
    child.input.on('error', () => {}); // the program may exit before reading everything (e.g. a refusal)
    req.pipe(child.input);

    // Output: the CGI header block (collected, a copy), then the body, one chunk
    // in flight at a time: the next is read once this one is written out.
    child.read(
      (chunk, next) => {
        if (headerBuf === null) {
          res.write(chunk, (err) => {
            if (!err) next();
          });
          return;
        }
        headerBuf = Buffer.concat([headerBuf, chunk]);
        const end = findHeaderEnd(headerBuf);
        if (end === null) {
          if (headerBuf.length > MAX_HEADER_BYTES) return fail('the CGI header is too large');
          return next();
        }
        const head = headerBuf.subarray(0, end.at).toString('latin1');
        const rest = headerBuf.subarray(end.at + end.length);
        headerBuf = null;
        const { status, headers } = parseCgiHeaders(head);
        res.writeHead(status, headers);
        if (rest.length === 0) return next();
        res.write(rest, (err) => {
          if (!err) next();
        });
      },
      () => {
        if (headerBuf !== null) return fail('the program ended before answering');
        if (!res.writableEnded) res.end();
      },
    );
    child.onExit?.((code, signal) => {
      if (code !== 0 && !finished) opts.log.warn({ program: opts.command, code, signal, stderr: stderr.slice(0, 2000) }, 'cgi program exited with an error');
    });
  });
}

function findHeaderEnd(buf: Buffer): { at: number; length: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return null;
  if (lf === -1 || (crlf !== -1 && crlf < lf)) return { at: crlf, length: 4 };
  return { at: lf, length: 2 };
}

/** CGI response headers: `Status: 403 Forbidden` sets the status; the rest pass through. */
export function parseCgiHeaders(head: string): { status: number; headers: Record<string, string | string[]> } {
  let status = 200;
  const headers: Record<string, string | string[]> = {};
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    if (name === 'status') {
      const n = Number.parseInt(value, 10);
      if (n >= 100 && n <= 599) status = n;
    } else if (/^[a-z0-9-]+$/.test(name)) {
      const prev = headers[name];
      headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
  }
  return { status, headers };
}

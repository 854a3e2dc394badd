// Runs a CGI program (git http-backend, hgweb) for one HTTP request: spawned
// with an argument array and a curated environment (never a shell), the
// request body piped in and the response streamed out, both with backpressure,
// so a 1 GB push never sits in memory.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';

export interface CgiOptions {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string | undefined;
  log: Logger;
}

const MAX_HEADER_BYTES = 64 * 1024;

/** Resolves when the response has been sent (or the client went away). */
export function runCgi(req: IncomingMessage, res: ServerResponse, opts: CgiOptions): Promise<void> {
  return new Promise((done) => {
    const child = spawn(opts.command, opts.args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], shell: false });
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
      finish();
    };

    child.on('error', (e) => fail(`cannot run: ${e.message}`));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    // The client went away: stop the program instead of letting it run on.
    res.on('close', () => {
      if (child.exitCode === null && !child.killed) child.kill('SIGTERM');
      finish();
    });
    req.on('error', () => child.kill('SIGTERM'));
    child.stdin.on('error', () => {}); // the program may exit before reading everything (e.g. a refusal)
    req.pipe(child.stdin);

    const onHeaderData = (chunk: Buffer) => {
      headerBuf = Buffer.concat([headerBuf!, chunk]);
      const end = findHeaderEnd(headerBuf);
      if (end === null) {
        if (headerBuf.length > MAX_HEADER_BYTES) {
          child.kill('SIGTERM');
          fail('the CGI header is too large');
        }
        return;
      }
      const head = headerBuf.subarray(0, end.at).toString('latin1');
      const rest = headerBuf.subarray(end.at + end.length);
      headerBuf = null;
      child.stdout.off('data', onHeaderData);
      const { status, headers } = parseCgiHeaders(head);
      res.writeHead(status, headers);
      if (rest.length > 0) res.write(rest);
      child.stdout.pipe(res);
    };
    child.stdout.on('data', onHeaderData);
    child.on('close', (code, signal) => {
      if (headerBuf !== null) return fail(`exited (${code ?? signal}) before answering`);
      if (code !== 0 && !finished) opts.log.warn({ program: opts.command, code, signal, stderr: stderr.slice(0, 2000) }, 'cgi program exited with an error');
    });
    child.stdout.on('end', () => {
      if (headerBuf === null && !res.writableEnded) res.end();
    });
    res.on('finish', finish);
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

// What the Git and Mercurial gateways share: reading headers, HTTP Basic with an
// API token, and plain-text answers a VCS client shows its user.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Actor, AppContext } from '../app/context.js';
import { authenticate } from '../app/identities.js';
import { credentialsOf } from '../http/api.js';

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}

/** HTTP Basic with the user's name and an API token; the name must be the token's (an active identity's). */
export async function basicAuth(ctx: AppContext, req: IncomingMessage): Promise<Actor | undefined> {
  const h = header(req, 'authorization');
  const { secret, claimedUser } = credentialsOf(h);
  if (!secret || !claimedUser || !/^basic /i.test(h ?? '')) return undefined;
  const actor = await authenticate(ctx, secret);
  return actor && actor.name === claimedUser ? actor : undefined;
}

/**
 * A plain-text answer; git shows each line to the user as `remote: ...`.
 * `inStatus` also puts them in the status line, which is all `hg` shows
 * ("abort: HTTP Error 403: ...").
 */
export function text(res: ServerResponse, status: number, lines: string[], inStatus = false): void {
  const body = `${lines.map((l) => `ajar: ${l}`).join('\n')}\n`;
  const headers = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) };
  if (inStatus) res.writeHead(status, `ajar: ${lines.map((l) => l.trim()).join(' -- ')}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 400), headers);
  else res.writeHead(status, headers);
  res.end(body);
}

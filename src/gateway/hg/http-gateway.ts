// The Mercurial gateway: /hg/<repo>?cmd=... Authenticates the user (HTTP
// Basic: name + API token), classifies the wire-protocol command as Mercurial
// would read it (batch split, arguments by Mercurial's precedence), asks for
// the decision, then hands the request to the warm hgweb. Writes get a session
// for the server hook, which decides each change.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AppContext } from '../../app/context.js';
import { authorizeRepo, openPushSession } from '../../app/repo-access.js';
import { classifyHgRequest } from '../../domain/hg.js';
import { repoNameProblem } from '../../domain/git.js';
import { servedRepoDir } from '../repo-dir.js';
import { basicAuth, header, text } from '../http-util.js';
import type { HgwebWorker } from './hgweb-worker.js';

export const HG_PREFIX = '/hg/';
const MAX_POST_ARGS = 64 * 1024;
/** Reads that hand out repository data: one audit event per pull or clone. */
const DATA_COMMANDS = new Set(['getbundle', 'changegroup', 'changegroupsubset', 'stream_out']);

export function createHgGateway(ctx: AppContext, opts: { worker: () => HgwebWorker | undefined; hookUrl: () => string; unavailable?: string | undefined }) {
  return async function hgGateway(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let user: string | undefined;
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = q === -1 ? '' : raw.slice(q + 1);
    res.on('finish', () => {
      ctx.log.info({ method: req.method, path, status: res.statusCode, user, ms: Math.round(performance.now() - started) }, 'hg');
    });
    try {
      const root = ctx.config.hg.root;
      const worker = opts.worker();
      if (root && opts.unavailable) return text(res, 503, [opts.unavailable], true);
      if (!root || !worker) return text(res, 404, ['this Ajar serves no Mercurial repositories (config hg.root)']);
      // Only the wire protocol on the repository's own URL: no web pages, no /api/.
      const repo = path.slice(HG_PREFIX.length);
      if (!path.startsWith(HG_PREFIX) || repo.length === 0 || repo.endsWith('/') || /\/(api|raw-file|archive|json-\w+)(\/|$)/.test(repo)) {
        return text(res, 404, ['not a Mercurial repository URL Ajar serves; use /hg/<repository>']);
      }
      if (req.method !== 'GET' && req.method !== 'POST') return text(res, 405, ['Mercurial speaks GET and POST']);
      // WSGI files `X_HgArg_1` under the key of `X-HgArg-1` (and `X_Ajar_User` under
      // Ajar's own): such a name would mean one thing here and another to hgweb. No
      // Mercurial client sends one (nginx and Apache drop them by default).
      if (hasUnderscoreHeader(req)) return text(res, 400, ['header names with "_" are refused: Mercurial would read them as other headers'], true);
      // Mercurial reads this length with Python's int(), which also takes "1_20" (as 120)
      // or " 12": only plain digits mean the same to both.
      const postHeader = header(req, 'x-hgargs-post');
      if (postHeader !== undefined && !/^[0-9]{1,6}$/.test(postHeader)) return text(res, 400, ['X-HgArgs-Post is not a length Ajar accepts'], true);
      const postLen = Number(postHeader ?? '0');
      if (postLen > MAX_POST_ARGS) return text(res, 400, ['X-HgArgs-Post is not a length Ajar accepts'], true);
      const length = header(req, 'content-length');
      if (postLen > 0 && (length === undefined || Number(length) < postLen)) return text(res, 400, ['X-HgArgs-Post is longer than the body'], true);

      // Who asks, before reading anything of the body.
      const who = await basicAuth(ctx, req);
      if (!who) {
        res.setHeader('www-authenticate', 'Basic realm="Ajar", charset="UTF-8"');
        return text(res, 401, ['authentication required: your Ajar user name and an API token as the password (see [auth] in docs/hg.md)']);
      }
      const actor = who.name;
      user = actor;
      // Arguments in the body come first in it: read exactly those bytes, keep them for hgweb.
      const prefix = postLen > 0 ? await readExactly(req, postLen) : Buffer.alloc(0);
      let headerArgs = '';
      for (let i = 1; header(req, `x-hgarg-${i}`) !== undefined; i++) headerArgs += header(req, `x-hgarg-${i}`);
      const cmd = classifyHgRequest(query, { headerArgs, postArgs: postLen > 0 ? prefix.toString('latin1') : undefined });
      if (!cmd.ok) return text(res, 400, [cmd.message], true);
      if (cmd.write && req.method !== 'POST') return text(res, 405, [`${cmd.commands.filter((c) => c !== 'batch').join(', ')} changes the repository: it needs a POST`], true);
      if (req.method === 'POST' && length === undefined) return text(res, 411, ['Mercurial requests carry a Content-Length']);
      const validName = !/[%\\]/.test(repo) && repoNameProblem(repo) === undefined;
      const dir = validName ? servedRepoDir('hg', root, repo) : undefined;
      const access = await authorizeRepo(ctx, {
        kind: 'hg',
        subject: actor,
        identity: who,
        repo,
        write: cmd.write,
        transport: 'http',
        exists: dir !== undefined,
        audit: !cmd.write && cmd.commands.some((c) => DATA_COMMANDS.has(c)),
        details: { commands: cmd.commands.slice(0, 20) },
      });
      if (!access.allow || !dir) return text(res, 403, access.allow ? ['refused'] : access.lines, true);
      const session = cmd.write ? await openPushSession(ctx, actor, 'hg', repo, 'http') : undefined;
      if (session) ctx.log.info({ user: actor, repo }, 'hg push started');
      const context = worker.sign({
        user: actor,
        write: cmd.write,
        repoDir: dir,
        repo,
        remoteAddr: req.socket.remoteAddress ?? '',
        ...(session ? { session, hookUrl: opts.hookUrl() } : {}),
      });
      await proxy(req, res, worker, prefix, query, context);
    } catch (e) {
      ctx.log.error({ err: String(e), path }, 'hg gateway failed');
      if (!res.headersSent) text(res, 503, ['Ajar cannot decide right now (its database is unavailable?); refused. Try again shortly']);
      else res.destroy();
    }
  };
}

function readExactly(req: IncomingMessage, n: number): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (have >= n) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.pause();
        const all = Buffer.concat(chunks);
        // What was read past the arguments goes back to the front of the stream.
        if (all.length > n) req.unshift(all.subarray(n));
        ok(all.subarray(0, n));
      }
    };
    const onEnd = () => fail(new Error('the body ended inside X-HgArgs-Post'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', fail);
  });
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'authorization', 'te', 'trailer', 'host']);

function hasUnderscoreHeader(req: IncomingMessage): boolean {
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.includes('_')) return true;
  return false;
}

/** Hand the request to hgweb over its Unix socket, with Ajar's signed context; stream both ways. */
function proxy(req: IncomingMessage, res: ServerResponse, worker: HgwebWorker, prefix: Buffer, query: string, context: string): Promise<void> {
  return new Promise((done) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      // Nobody but Ajar speaks X-Ajar-* to hgweb (and hgweb checks the signature too).
      if (v === undefined || HOP.has(k) || k.startsWith('x-ajar-')) continue;
      headers[k] = v;
    }
    const up = httpRequest({ socketPath: worker.socketPath, method: req.method, path: `/?${query}`, headers: { ...headers, 'x-ajar-context': context, host: 'ajar-hgweb', connection: 'close' } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.statusMessage, stripHop(r.headers));
      r.pipe(res);
      r.on('end', () => done());
    });
    up.on('error', (e) => {
      if (!res.headersSent) text(res, 502, [`the Mercurial server failed to answer (${e.message}); try again`]);
      else res.destroy();
      done();
    });
    res.on('close', () => {
      up.destroy();
      done();
    });
    if (prefix.length > 0) up.write(prefix);
    req.pipe(up);
    req.resume();
  });
}

function stripHop(h: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

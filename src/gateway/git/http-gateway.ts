// The Git smart-HTTP gateway: /git/<repo>.git/... Authenticates the user (HTTP
// Basic: name + API token), asks for the decision, then runs the real
// `git http-backend`. Pushes get a session for the pre-receive hook, which
// decides each ref: the gateway only keeps out whoever may not write at all.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AppContext } from '../../app/context.js';
import { authorizeRepo, openPushSession } from '../../app/repo-access.js';
import { runCgi } from '../cgi.js';
import type { Spawner } from '../spawner.js';
import { basicAuth, header, optional, text } from '../http-util.js';
import { parseGitRequest } from './http-path.js';
import { gitEnv, hooksDirFor, repoDir, validGitProtocol } from './repo.js';

export interface GitGatewayOptions {
  /** where this process's API answers the pre-receive hook (loopback) */
  hookUrl: () => string;
  /** starts git http-backend from a small process */
  spawner?: Spawner | undefined;
}

export function createGitGateway(ctx: AppContext, opts: GitGatewayOptions) {
  return async function gitGateway(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let user: string | undefined;
    const path = (req.url ?? '').split('?')[0];
    res.on('finish', () => {
      // The path only: query strings and headers are never logged.
      ctx.log.info({ method: req.method, path, status: res.statusCode, user, ms: Math.round(performance.now() - started) }, 'git');
    });
    try {
      const root = ctx.config.git.root;
      const parsed = parseGitRequest(req.method ?? '', req.url ?? '');
      if (!root) return text(res, 404, ['this Ajar serves no Git repositories (config git.root)']);
      if (!parsed.ok) return text(res, parsed.status, [parsed.message]);
      const protocol = header(req, 'git-protocol');
      if (protocol !== undefined && !validGitProtocol(protocol)) return text(res, 400, ['the Git-Protocol header is not valid']);

      const who = await basicAuth(ctx, req);
      if (!who) {
        res.setHeader('www-authenticate', 'Basic realm="Ajar", charset="UTF-8"');
        return text(res, 401, ['authentication required: your Ajar user name and an API token as the password', '(git config --global credential.helper "ajar credential")']);
      }
      const actor = who.name;
      user = actor;
      const dir = parsed.validName ? repoDir(root, parsed.repo) : undefined;
      const access = await authorizeRepo(ctx, {
        kind: 'git',
        subject: actor,
        identity: who,
        repo: parsed.repo,
        write: parsed.service === 'git-receive-pack',
        orRead: true,
        transport: 'http',
        exists: dir !== undefined,
        // Every step of a fetch (the ref advertisement, each upload-pack POST: a client may
        // skip the advertisement) is audited; pushes are audited by the hook.
        audit: parsed.service === 'git-upload-pack',
        details: { service: parsed.service, step: parsed.advertise ? 'advertisement' : 'upload-pack', ...optional('protocol', protocol) },
      });
      if (!access.allow || !dir) return text(res, 403, access.allow ? ['refused'] : access.lines);

      // git's probe before a large push is a 4-byte body, a flush-pkt: no ref can move,
      // so it gets no push session (and a hook, were one run, would refuse without one).
      const probe = header(req, 'content-length') === '4' && header(req, 'content-encoding') === undefined;
      const push = parsed.service === 'git-receive-pack' && !parsed.advertise && !probe;
      const session = push ? await openPushSession(ctx, actor, 'git', parsed.repo, 'http') : undefined;
      if (push) ctx.log.info({ user: actor, repo: parsed.repo }, 'git push started');
      const env = gitEnv({
        protocol,
        hook: session ? { url: opts.hookUrl(), session, repo: parsed.repo } : undefined,
        hooksDir: parsed.service === 'git-receive-pack' && !parsed.advertise ? hooksDirFor(dir) : undefined,
        extra: {
          GIT_PROJECT_ROOT: dir.slice(0, dir.length - `${parsed.repo}.git`.length - 1),
          GIT_HTTP_EXPORT_ALL: '1',
          PATH_INFO: parsed.pathInfo,
          QUERY_STRING: parsed.query,
          REQUEST_METHOD: req.method ?? 'GET',
          REMOTE_USER: actor,
          REMOTE_ADDR: req.socket.remoteAddress ?? '',
          ...optional('CONTENT_TYPE', header(req, 'content-type')),
          ...optional('CONTENT_LENGTH', header(req, 'content-length')),
          ...optional('HTTP_CONTENT_ENCODING', header(req, 'content-encoding')),
        },
      });
      await runCgi(req, res, { command: 'git', args: ['http-backend'], env, log: ctx.log, spawner: opts.spawner });
    } catch (e) {
      // Cannot decide (database down, ...): refuse, and say so.
      ctx.log.error({ err: String(e), path }, 'git gateway failed');
      if (!res.headersSent) text(res, 503, ['Ajar cannot decide right now (its database is unavailable?); refused. Try again shortly']);
      else res.destroy();
    }
  };
}


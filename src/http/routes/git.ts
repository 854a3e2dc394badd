import { z } from 'zod';
import { decidePush } from '../../app/git.js';
import { authorizeRepo, openPushSession } from '../../app/repo-access.js';
import { AppError, ERROR_STATUS } from '../../domain/errors.js';
import { REF_UPDATE_KINDS } from '../../domain/git.js';
import type { Route } from '../api.js';
import { pusherOf } from '../push-auth.js';
import { credentialsOf } from '../api.js';
import { isPushSessionSecret } from '../../app/repo-access.js';
import { classifyPush, parsePushFacts } from '../../domain/git-push.js';

const NAME = z.string().min(1).max(200);

export const gitRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/git/push',
    tag: 'git',
    summary:
      'The pre-receive hook asks: may this push update these refs? Authenticated by the push session of Ajar\'s gateway or SSH command, or by a hook account token naming the pusher',
    // The push session is not an API token, so this route authenticates itself.
    public: true,
    body: z.strictObject({
      repo: NAME,
      user: NAME.optional(),
      updates: z
        .array(
          z.strictObject({
            ref: z.string().min(1).max(1024),
            old: z.string().max(64),
            new: z.string().max(64),
            kind: z.enum(REF_UPDATE_KINDS),
            target: z.string().min(1).max(1024).optional(),
          }),
        )
        .min(1)
        .max(10_000),
    }),
    handler: async ({ ctx, body, c }) => decidePush(ctx, await pusherOf(ctx, c.req.header('authorization'), body.user), { repo: body.repo, updates: body.updates }),
  },
  {
    method: 'post',
    path: '/v1/git/pre-receive',
    tag: 'git',
    summary:
      "The gateway's shell pre-receive hook sends what git gave it (update lines, the refs, fast-forward checks) as text; Ajar classifies and decides. Push session only. Answers text: allow or deny, then lines for the pusher",
    public: true,
    raw: true,
    handler: async ({ ctx, c }) => {
      const answer = (allow: boolean, lines: string[]) => c.text(`${allow ? 'allow' : 'deny'}\n${lines.map((l) => `${l.replace(/[\r\n]/g, ' ')}\n`).join('')}`);
      const { secret } = credentialsOf(c.req.header('authorization'));
      // Only a push session: this route is for Ajar's own hook, never a hook account.
      if (!secret || !isPushSessionSecret(secret)) return c.text('deny\nthe hook presented no push session\n', 401);
      const parsed = parsePushFacts(await c.req.text());
      if (typeof parsed === 'string') return answer(false, [parsed]);
      const updates = classifyPush(parsed.facts);
      if (typeof updates === 'string') return answer(false, [updates]);
      try {
        const d = await decidePush(ctx, { session: secret }, { repo: parsed.repo, updates });
        return answer(d.allow, d.lines);
      } catch (e) {
        if (e instanceof AppError) return c.text(`deny\n${e.message}\n`, ERROR_STATUS[e.code] as 400);
        throw e;
      }
    },
  },
  {
    method: 'post',
    path: '/v1/git/authorize',
    tag: 'git',
    summary: 'SSH mode asks: may this user run this git service on this repository? A push also gets its session (hook accounts)',
    body: z.strictObject({ user: NAME, repo: NAME, service: z.enum(['git-upload-pack', 'git-receive-pack']), exists: z.boolean() }),
    handler: async ({ ctx, actor, body }) => {
      if (!ctx.config.git.hookAccounts.includes(actor.name)) throw new AppError('permission_denied', `${actor.name} is not a hook account (config git.hook_accounts)`);
      const write = body.service === 'git-receive-pack';
      const access = await authorizeRepo(ctx, { kind: 'git', subject: body.user, repo: body.repo, write, orRead: true, transport: 'ssh', exists: body.exists, audit: !write, details: { service: body.service } });
      if (!access.allow) return access;
      const session = write ? await openPushSession(ctx, body.user, 'git', body.repo, 'ssh') : undefined;
      return { ...access, ...(session ? { session } : {}) };
    },
  },
];

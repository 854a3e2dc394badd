import { z } from 'zod';
import { decidePush } from '../../app/git.js';
import { authorizeRepo, openPushSession } from '../../app/repo-access.js';
import { AppError } from '../../domain/errors.js';
import { REF_UPDATE_KINDS } from '../../domain/git.js';
import type { Route } from '../api.js';
import { pusherOf } from '../push-auth.js';

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
    path: '/v1/git/authorize',
    tag: 'git',
    summary: 'SSH mode asks: may this user run this git service on this repository? A push also gets its session (hook accounts)',
    body: z.strictObject({ user: NAME, repo: NAME, service: z.enum(['git-upload-pack', 'git-receive-pack']), exists: z.boolean() }),
    handler: async ({ ctx, actor, body }) => {
      if (!ctx.config.git.hookAccounts.includes(actor.name)) throw new AppError('permission_denied', `${actor.name} is not a hook account (config git.hook_accounts)`);
      const write = body.service === 'git-receive-pack';
      const access = await authorizeRepo(ctx, { kind: 'git', subject: body.user, repo: body.repo, write, transport: 'ssh', exists: body.exists, audit: !write, details: { service: body.service } });
      if (!access.allow) return access;
      const session = write ? await openPushSession(ctx, body.user, 'git', body.repo, 'ssh') : undefined;
      return { ...access, ...(session ? { session } : {}) };
    },
  },
];

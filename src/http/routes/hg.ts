import { z } from 'zod';
import { decideHgPush } from '../../app/hg.js';
import { authorizeRepo, openPushSession, settlePush } from '../../app/repo-access.js';
import { AppError } from '../../domain/errors.js';
import type { Route } from '../api.js';
import { pusherOf } from '../push-auth.js';

const NAME = z.string().min(1).max(200);
const NODE = z.string().regex(/^[0-9a-f]{40}$/);
const change = z.discriminatedUnion('type', [
  z.strictObject({ type: z.enum(['changesets', 'close', 'publish']), branch: z.string().max(1024), nodes: z.array(NODE).max(50), count: z.number().int().min(1) }),
  z.strictObject({ type: z.literal('bookmark'), bookmark: z.string().max(1024), op: z.enum(['create', 'move', 'delete']), old: NODE.nullable(), new: NODE.nullable() }),
  z.strictObject({ type: z.literal('obsolete'), node: z.string().regex(/^[0-9a-f]{40}$/), branch: z.string().max(1024).optional(), public: z.boolean().optional() }),
]);

export const hgRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/hg/push',
    tag: 'hg',
    summary:
      'The Mercurial hook asks: may this transaction land (new changesets per branch, closed branches, bookmarks, publishing, obsolescence)? Authenticated by a push session or a hook account token naming the pusher',
    public: true,
    body: z.strictObject({ repo: NAME, user: NAME.optional(), changes: z.array(change).min(1).max(10_000), check: z.boolean().optional() }),
    handler: async ({ ctx, body, c }) =>
      decideHgPush(ctx, await pusherOf(ctx, c.req.header('authorization'), body.user), { repo: body.repo, changes: body.changes, check: body.check ?? false }),
  },
  {
    method: 'post',
    path: '/v1/hg/push/settle',
    tag: 'hg',
    summary:
      'The Mercurial hook says whether an allowed transaction committed: the uses of use-bound grants it held are then counted, or given back. Authenticated as for /v1/hg/push',
    public: true,
    body: z.strictObject({ repo: NAME, user: NAME.optional(), reservation: z.string().min(1).max(100), committed: z.boolean() }),
    handler: async ({ ctx, body, c }) =>
      settlePush(ctx, await pusherOf(ctx, c.req.header('authorization'), body.user), { kind: 'hg', repo: body.repo, reservation: body.reservation, committed: body.committed }),
  },
  {
    method: 'post',
    path: '/v1/hg/authorize',
    tag: 'hg',
    summary: 'SSH mode asks: may this user read this repository, and may the session write? A reader gets a push session for the hook, which decides every change (hook accounts)',
    body: z.strictObject({ user: NAME, repo: NAME, exists: z.boolean() }),
    handler: async ({ ctx, actor, body }) => {
      if (!ctx.config.hg.hookAccounts.includes(actor.name)) throw new AppError('permission_denied', `${actor.name} is not a hook account (config hg.hook_accounts)`);
      const base = { kind: 'hg' as const, subject: body.user, repo: body.repo, transport: 'ssh' as const, exists: body.exists };
      const read = await authorizeRepo(ctx, { ...base, write: false, audit: true });
      if (!read.allow) return read;
      const write = await authorizeRepo(ctx, { ...base, write: true, audit: false, quiet: true });
      // A reader without a write grant gets a session too: a push they try then reaches
      // the hook, and Ajar refuses it there with the exact changes — audited, filed where
      // the policy says so, and with the exact command to ask.
      return { ...read, write: write.allow, session: await openPushSession(ctx, body.user, 'hg', body.repo, 'ssh') };
    },
  },
];

import { z } from 'zod';
import { listSecrets, readSecrets, resealSecrets, setSecret } from '../../app/secrets.js';
import type { Route } from '../api.js';

export const secretRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/secrets',
    tag: 'secrets',
    summary: 'Store (or replace) a pipeline secret of an environment, encrypted (admin)',
    body: z.strictObject({ resource: z.string().min(1).max(300), name: z.string().min(1).max(128), value: z.string().max(64 * 1024) }),
    status: 201,
    handler: ({ ctx, actor, body }) => setSecret(ctx, actor, body),
  },
  {
    method: 'get',
    path: '/v1/secrets',
    tag: 'secrets',
    summary: "The names of an environment's secrets, never their values (admin)",
    query: z.strictObject({ resource: z.string().min(1).max(300) }),
    handler: async ({ ctx, actor, query }) => ({ secrets: await listSecrets(ctx, actor, query.resource) }),
  },
  {
    method: 'post',
    path: '/v1/secrets/reseal',
    tag: 'secrets',
    summary: 'Seal every secret with the current key, after a rotation (admin)',
    body: z.strictObject({}),
    handler: ({ ctx, actor }) => resealSecrets(ctx, actor),
  },
  {
    method: 'post',
    path: '/v1/secrets/read',
    tag: 'secrets',
    summary: "An environment's secrets (or the named ones), for a caller with an active read-secrets grant on it",
    body: z.strictObject({ resource: z.string().min(1).max(300), names: z.array(z.string().min(1).max(128)).max(100).optional(), artifact: z.string().max(300).optional() }),
    handler: ({ ctx, actor, body }) => readSecrets(ctx, actor, body),
  },
];

import { z } from 'zod';
import { createToken, disableUser, enableUser, listTokens, listUsers, revokeToken } from '../../app/identities.js';
import type { Route } from '../api.js';

export const identityRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/whoami',
    tag: 'identity',
    summary: 'The identity behind your token',
    handler: async ({ actor }) => ({ name: actor.name, kind: actor.kind, groups: actor.groups, attributes: actor.attributes, admin: actor.admin }),
  },
  {
    method: 'get',
    path: '/v1/users',
    tag: 'identity',
    summary: 'Users and service accounts with their state (admin)',
    handler: async ({ ctx, actor }) => ({ users: await listUsers(ctx, actor) }),
  },
  {
    method: 'post',
    path: '/v1/users/:name/disable',
    tag: 'identity',
    summary: 'Disable a user: revoke every grant, cancel every pending request, revoke every token (admin)',
    body: z.strictObject({ reason: z.string().max(2000).optional() }),
    handler: ({ ctx, actor, params, body }) => disableUser(ctx, actor, params.name!, body.reason),
  },
  {
    method: 'post',
    path: '/v1/users/:name/enable',
    tag: 'identity',
    summary: 'Enable a disabled user again (admin); old tokens stay revoked',
    handler: ({ ctx, actor, params }) => enableUser(ctx, actor, params.name!),
  },
  {
    method: 'post',
    path: '/v1/tokens',
    tag: 'identity',
    summary: 'Create an API token for a user or service account (admin); the secret is shown once',
    body: z.strictObject({ user: z.string().min(1), ttl: z.string().optional(), description: z.string().max(200).optional() }),
    status: 201,
    handler: ({ ctx, actor, body }) => createToken(ctx, actor, { subject: body.user, ttl: body.ttl, description: body.description }),
  },
  {
    method: 'get',
    path: '/v1/tokens',
    tag: 'identity',
    summary: 'List tokens (never their secrets)',
    query: z.strictObject({ user: z.string().optional() }),
    handler: async ({ ctx, actor, query }) => ({ tokens: await listTokens(ctx, actor, query.user) }),
  },
  {
    method: 'delete',
    path: '/v1/tokens/:id',
    tag: 'identity',
    summary: 'Revoke a token',
    handler: ({ ctx, actor, params }) => revokeToken(ctx, actor, params.id!),
  },
];

import { z } from 'zod';
import { check, closeBreakGlassReview, extendGrant, listBreakGlass, getGrant, listGrants, releaseGrant, revokeByResource, revokeGrant } from '../../app/grants.js';
import { GRANT_STATES } from '../../domain/grant.js';
import type { Route } from '../api.js';
import { pipelineBody } from '../pipeline.js';

export const grantRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/grants',
    tag: 'grants',
    summary: 'List grants: your own, or anyone\'s for admins',
    query: z.strictObject({
      subject: z.string().optional(),
      state: z.enum(GRANT_STATES).optional(),
      resource: z.string().optional(),
      limit: z.coerce.number().int().min(1).max(1000).optional(),
    }),
    handler: async ({ ctx, actor, query }) => ({ grants: await listGrants(ctx, actor, query) }),
  },
  {
    method: 'get',
    path: '/v1/grants/:id',
    tag: 'grants',
    summary: 'One grant',
    handler: ({ ctx, actor, params }) => getGrant(ctx, actor, params.id!),
  },
  {
    method: 'post',
    path: '/v1/grants/:id/revoke',
    tag: 'grants',
    summary: 'Revoke a grant now (admin)',
    body: z.strictObject({ reason: z.string().max(2000).optional() }),
    handler: ({ ctx, actor, params, body }) => revokeGrant(ctx, actor, params.id!, body.reason),
  },
  {
    method: 'post',
    path: '/v1/grants/revoke',
    tag: 'grants',
    summary: 'Revoke every open grant that touches a resource pattern (admin, incident response)',
    body: z.strictObject({ resource: z.string().min(1), reason: z.string().max(2000).optional() }),
    handler: async ({ ctx, actor, body }) => ({ revoked: await revokeByResource(ctx, actor, body.resource, body.reason) }),
  },
  {
    method: 'post',
    path: '/v1/grants/:id/release',
    tag: 'grants',
    summary: 'Give up your grant before it ends',
    handler: ({ ctx, actor, params }) => releaseGrant(ctx, actor, params.id!),
  },
  {
    method: 'post',
    path: '/v1/grants/:id/extend',
    tag: 'grants',
    summary: 'Ask for more time on a grant; it goes through the policy like a new request',
    body: z.strictObject({ duration: z.string().optional(), reason: z.string() }),
    status: 201,
    handler: ({ ctx, actor, params, body }) => extendGrant(ctx, actor, params.id!, body),
  },
  {
    method: 'get',
    path: '/v1/breakglass',
    tag: 'grants',
    summary: 'Break-glass grants and their post-hoc reviews (admin); state=open (default), closed or all',
    query: z.strictObject({ state: z.enum(['open', 'closed', 'all']).optional() }),
    handler: async ({ ctx, actor, query }) => ({ grants: await listBreakGlass(ctx, actor, query.state ?? 'open') }),
  },
  {
    method: 'post',
    path: '/v1/grants/:id/review',
    tag: 'grants',
    summary: 'Close the post-hoc review of a break-glass grant (an admin other than its holder)',
    body: z.strictObject({ note: z.string().min(1).max(4000) }),
    handler: ({ ctx, actor, params, body }) => closeBreakGlassReview(ctx, actor, params.id!, body.note),
  },
  {
    method: 'post',
    path: '/v1/check',
    tag: 'decisions',
    summary: 'May this subject do this action on this resource now? (the decision every enforcement point uses)',
    body: z.strictObject({
      subject: z.string().min(1),
      action: z.string().min(1),
      resource: z.string().min(1),
      consume: z.boolean().optional(),
      artifact: z.string().max(300).optional(),
      /** the CI pipeline asking (ajar gate): run URL, commit, actor; kept in the audit event */
      context: pipelineBody,
    }),
    handler: async ({ ctx, actor, body }) => {
      const r = await check(ctx, actor, body);
      return r.allow ? { ...r, expiresAt: r.expiresAt.toISOString() } : r;
    },
  },
];

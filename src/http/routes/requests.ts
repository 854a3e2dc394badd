import { z } from 'zod';
import { cancelRequest, createRequest, getRequest, listRequests, reviewRequest } from '../../app/requests.js';
import { REQUEST_STATES } from '../../domain/grant.js';
import type { Route } from '../api.js';
import { pipelineBody } from '../pipeline.js';

const createBody = z.strictObject({
  resources: z.array(z.string().min(1)).min(1).max(20),
  actions: z.array(z.string().min(1)).min(1).max(10),
  duration: z.string().optional(),
  start: z.string().optional(),
  reason: z.string(),
  ticket: z.string().optional(),
  uses: z.number().int().optional(),
  break_glass: z.boolean().optional(),
  fields: z.record(z.string().max(32), z.string().max(500)).optional(),
  artifact: z.string().max(300).optional(),
  /** the CI pipeline filing the request (ajar gate): kept in the audit log */
  pipeline: pipelineBody,
});

const reviewBody = z.strictObject({
  reason: z.string().max(2000).optional(),
  // An approver may narrow what is granted, never widen it.
  duration: z.string().optional(),
  actions: z.array(z.string().min(1)).min(1).max(10).optional(),
  resources: z.array(z.string().min(1)).min(1).max(20).optional(),
});

export const requestRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/requests',
    tag: 'requests',
    summary: 'Request access: resources, actions, duration, reason',
    body: createBody,
    status: 201,
    handler: ({ ctx, actor, body }) =>
      createRequest(ctx, actor, {
        resources: body.resources,
        actions: body.actions,
        duration: body.duration,
        startAt: body.start,
        reason: body.reason,
        ticket: body.ticket,
        maxUses: body.uses,
        breakGlass: body.break_glass,
        fields: body.fields,
        artifact: body.artifact,
        pipeline: body.pipeline,
      }),
  },
  {
    method: 'get',
    path: '/v1/requests',
    tag: 'requests',
    summary: 'List requests: your own, or (review=true) the ones waiting for your review',
    query: z.strictObject({
      state: z.enum(REQUEST_STATES).optional(),
      requester: z.string().optional(),
      review: z.enum(['true', 'false']).optional(),
      limit: z.coerce.number().int().min(1).max(1000).optional(),
    }),
    handler: async ({ ctx, actor, query }) => ({
      requests: await listRequests(ctx, actor, { state: query.state, requester: query.requester, toReview: query.review === 'true', limit: query.limit }),
    }),
  },
  {
    method: 'get',
    path: '/v1/requests/:id',
    tag: 'requests',
    summary: 'One request with its approvals',
    handler: ({ ctx, actor, params }) => getRequest(ctx, actor, params.id!),
  },
  {
    method: 'post',
    path: '/v1/requests/:id/approve',
    tag: 'requests',
    summary: 'Approve a request (never your own), optionally narrowing it (shorter, fewer actions or resources); repeating it changes nothing',
    body: reviewBody,
    handler: ({ ctx, actor, params, body }) =>
      reviewRequest(ctx, actor, params.id!, 'approve', body.reason, { duration: body.duration, actions: body.actions, resources: body.resources }),
  },
  {
    method: 'post',
    path: '/v1/requests/:id/deny',
    tag: 'requests',
    summary: 'Deny a request, with a reason',
    body: z.strictObject({ reason: z.string().min(1).max(2000) }),
    handler: ({ ctx, actor, params, body }) => reviewRequest(ctx, actor, params.id!, 'deny', body.reason),
  },
  {
    method: 'post',
    path: '/v1/requests/:id/cancel',
    tag: 'requests',
    summary: 'Cancel your pending request',
    handler: ({ ctx, actor, params }) => cancelRequest(ctx, actor, params.id!),
  },
];

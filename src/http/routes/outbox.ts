import { z } from 'zod';
import { listDeliveries, retryDeliveries, retryDelivery } from '../../notify/outbox-admin.js';
import type { Route } from '../api.js';

export const outboxRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/outbox',
    tag: 'notifications',
    summary: 'Notification deliveries: by default those not delivered yet (waiting, retrying, dead), and events that could not be fanned out (admin)',
    query: z.strictObject({ state: z.enum(['pending', 'sending', 'delivered', 'dead', 'failed', 'all']).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }),
    handler: ({ ctx, actor, query }) => listDeliveries(ctx, actor, query),
  },
  {
    method: 'post',
    path: '/v1/outbox/retry',
    tag: 'notifications',
    summary: 'Send every dead delivery (of one channel, or one channel family such as webhook) again now (admin)',
    body: z.strictObject({ state: z.literal('dead'), channel: z.string().min(1).max(100).optional() }),
    handler: ({ ctx, actor, body }) => retryDeliveries(ctx, actor, body),
  },
  {
    method: 'post',
    path: '/v1/outbox/:id/retry',
    tag: 'notifications',
    summary: 'Send a dead (or waiting) delivery again now, or fan out again an event (evt_…) whose fan-out failed (admin)',
    handler: ({ ctx, actor, params }) => retryDelivery(ctx, actor, params.id!),
  },
];

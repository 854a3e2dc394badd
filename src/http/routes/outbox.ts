import { z } from 'zod';
import { listDeliveries, retryDelivery } from '../../notify/outbox.js';
import type { Route } from '../api.js';

export const outboxRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/outbox',
    tag: 'notifications',
    summary: 'Notification deliveries: by default those not delivered yet (waiting, retrying, dead) (admin)',
    query: z.strictObject({ state: z.enum(['pending', 'sending', 'delivered', 'dead', 'failed', 'all']).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }),
    handler: ({ ctx, actor, query }) => listDeliveries(ctx, actor, query),
  },
  {
    method: 'post',
    path: '/v1/outbox/:id/retry',
    tag: 'notifications',
    summary: 'Send a dead (or waiting) delivery again now (admin)',
    handler: ({ ctx, actor, params }) => retryDelivery(ctx, actor, params.id!),
  },
];

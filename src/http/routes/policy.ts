import { z } from 'zod';
import { explain } from '../../app/policy.js';
import type { Route } from '../api.js';

export const policyRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/policy/explain',
    tag: 'policy',
    summary: 'May this identity request this, for how long, auto-approved or by whom — without filing anything',
    body: z.strictObject({
      as: z.string().min(1).optional(),
      resources: z.array(z.string().min(1)).min(1).max(20),
      actions: z.array(z.string().min(1)).min(1).max(10),
    }),
    handler: ({ ctx, actor, body }) => explain(ctx, actor, body),
  },
];

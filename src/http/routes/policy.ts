import { z } from 'zod';
import { explain, simulatePolicy } from '../../app/policy.js';
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
      breakGlass: z.boolean().optional(),
      duration: z.string().max(20).optional(),
      ticket: z.string().min(1).max(200).optional(),
      reason: z.string().max(2000).optional(),
      fields: z.record(z.string().max(32), z.string().max(500)).optional(),
      at: z.string().max(40).optional(),
    }),
    handler: ({ ctx, actor, body }) => explain(ctx, actor, body),
  },
  {
    method: 'post',
    path: '/v1/policy/simulate',
    tag: 'policy',
    summary: 'Replay the requests of a period under a new config, or a new policy file under the running config, and list what would change (admin)',
    body: z.strictObject({
      config: z.string().min(1).max(1024 * 512),
      name: z.string().max(500).optional(),
      /** the files the new config or policy names (policy_file, oncall_file), by absolute path */
      files: z
        .record(z.string().min(1).max(1000), z.string().max(1024 * 512))
        .refine((f) => Object.keys(f).length <= 4, 'at most 4 files: the policy file and the on-call schedule')
        .optional(),
      since: z.string(),
      until: z.string().optional(),
    }),
    handler: ({ ctx, actor, body }) => simulatePolicy(ctx, actor, body),
  },
];

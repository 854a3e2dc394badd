import { z } from 'zod';
import { queryAudit, toCsv, toJsonl, verifyAudit } from '../../app/audit-query.js';
import type { Route } from '../api.js';

export const auditRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/audit',
    tag: 'audit',
    summary: 'Audit events in order, filtered; format=json (default), jsonl or csv (admin)',
    query: z.strictObject({
      user: z.string().optional(),
      resource: z.string().optional(),
      action: z.string().optional(),
      type: z.string().optional(),
      since: z.string().optional(),
      until: z.string().optional(),
      after: z.coerce.number().int().min(0).optional(),
      limit: z.coerce.number().int().min(1).max(10000).optional(),
      format: z.enum(['json', 'jsonl', 'csv']).optional(),
    }),
    raw: true,
    handler: async ({ ctx, actor, query, c }) => {
      const { events, next } = await queryAudit(ctx, actor, query);
      if (next !== null) c.header('x-next-after', String(next));
      if (query.format === 'jsonl') return c.body(toJsonl(events), 200, { 'content-type': 'application/x-ndjson' });
      if (query.format === 'csv') return c.body(toCsv(events, query.after === undefined), 200, { 'content-type': 'text/csv; charset=utf-8' });
      return c.json({ events, next });
    },
  },
  {
    method: 'get',
    path: '/v1/audit/verify',
    tag: 'audit',
    summary: 'Verify the hash chain of the whole audit log (admin)',
    handler: ({ ctx, actor }) => verifyAudit(ctx, actor),
  },
];

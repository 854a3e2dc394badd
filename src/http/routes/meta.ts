import type { Route } from '../api.js';

export const metaRoutes: Route[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'meta',
    summary: 'Liveness and database reachability',
    public: true,
    handler: async ({ ctx }) => {
      await ctx.db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow();
      return { ok: true };
    },
  },
  {
    method: 'get',
    path: '/v1/resources',
    tag: 'resources',
    summary: 'The resources Ajar manages, with their labels',
    handler: async ({ ctx }) => ({
      resources: ctx.config.resources.map((r) => ({ id: r.id, kind: r.resource.kind, labels: r.labels, description: r.description ?? null })),
    }),
  },
];

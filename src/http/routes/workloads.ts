import { z } from 'zod';
import { exchangeWorkloadToken } from '../../app/workloads.js';
import { parseDuration } from '../../domain/duration.js';
import { badInput } from '../../domain/errors.js';
import { credentialsOf, type Route } from '../api.js';

export const workloadRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/workload/session',
    tag: 'identity',
    summary: "Exchange your CI job's OIDC token (the bearer) for a short-lived Ajar session of the same workload (at most 12h), for a gate that outlives the CI token; shown once",
    body: z.strictObject({ ttl: z.string().min(1).max(20) }),
    status: 201,
    handler: ({ ctx, body, c }) => {
      const ttl = parseDuration(body.ttl);
      if (!ttl.ok) throw badInput(`ttl: ${ttl.error}`, { field: 'ttl' });
      return exchangeWorkloadToken(ctx, credentialsOf(c.req.header('authorization')).secret, ttl.value);
    },
  },
];

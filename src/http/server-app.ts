// All routes in one place, and the OpenAPI document describing them.
import type { Hono } from 'hono';
import type { Actor, AppContext } from '../app/context.js';
import { buildApi, type Env, openApiDocument, type Route } from './api.js';
import { auditRoutes } from './routes/audit.js';
import { cliRoutes } from './routes/cli.js';
import { workloadRoutes } from './routes/workloads.js';
import { credentialRoutes } from './routes/credentials.js';
import { secretRoutes } from './routes/secrets.js';
import { gitRoutes } from './routes/git.js';
import { grantRoutes } from './routes/grants.js';
import { hgRoutes } from './routes/hg.js';
import { identityRoutes } from './routes/identities.js';
import { metaRoutes } from './routes/meta.js';
import { policyRoutes } from './routes/policy.js';
import { outboxRoutes } from './routes/outbox.js';
import { requestRoutes } from './routes/requests.js';
import { slackRoutes } from './routes/slack.js';
import { VERSION } from '../version.js';

export const ROUTES: Route[] = [...metaRoutes, ...identityRoutes, ...requestRoutes, ...grantRoutes, ...policyRoutes, ...auditRoutes, ...gitRoutes, ...hgRoutes, ...credentialRoutes, ...secretRoutes, ...outboxRoutes, ...slackRoutes, ...cliRoutes, ...workloadRoutes];

const openapiRoute: Route = {
  method: 'get',
  path: '/openapi.json',
  tag: 'meta',
  summary: 'This document',
  public: true,
  handler: async () => openApiDocument(ROUTES, VERSION),
};

export function createHttpApp(ctx: AppContext, localActor?: Actor): Hono<Env> {
  return buildApi(ctx, [openapiRoute, ...ROUTES], { localActor });
}

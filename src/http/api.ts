// The HTTP API: thin routes that parse and validate, authenticate, call one use
// case and map the result. Every route is declared once here, which also gives
// the OpenAPI document, so the two cannot drift apart.
import { randomUUID } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { type Actor, type AppContext } from '../app/context.js';
import { authenticate } from '../app/identities.js';
import { AppError, ERROR_STATUS, type ErrorCode } from '../domain/errors.js';

export type Env = { Variables: { actor: Actor; requestId: string } };

export interface Route {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** public routes need no token */
  public?: boolean;
  /** a non-JSON answer (e.g. CSV); the handler returns a Response */
  raw?: boolean;
  /** success status; 200 unless said */
  status?: 200 | 201;
  handler: (input: { ctx: AppContext; actor: Actor; params: Record<string, string>; body: any; query: any; c: Context<Env> }) => Promise<unknown>;
}

export function errorBody(code: ErrorCode, message: string, requestId: string, details?: Record<string, unknown>) {
  return { error: { code, message, requestId, ...(details ? { details } : {}) } };
}

function zodMessage(where: string, e: z.ZodError): { message: string; field: string } {
  const i = e.issues[0]!;
  const field = i.path.map(String).join('.') || where;
  return { message: `${field}: ${i.message}`, field };
}

export function buildApi(ctx: AppContext, routes: Route[], opts: { localActor?: Actor | undefined } = {}): Hono<Env> {
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    c.set('requestId', randomUUID());
    c.header('x-request-id', c.get('requestId'));
    c.header('cache-control', 'no-store');
    await next();
    // The path only: query values and headers may hold secrets and are never logged.
    ctx.log.info(
      { requestId: c.get('requestId'), method: c.req.method, path: c.req.path, status: c.res.status, actor: c.get('actor')?.name, ms: Math.round(performance.now() - started) },
      'http',
    );
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => c.json(errorBody('invalid_argument', 'the request body is larger than 1 MiB', c.get('requestId')), 413),
    }),
  );

  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? randomUUID();
    if (err instanceof AppError) {
      return c.json(errorBody(err.code, err.message, requestId, err.details), ERROR_STATUS[err.code]);
    }
    // Unknown errors are bugs or outages: log them, leak nothing.
    ctx.log.error({ requestId, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'request failed');
    const down = isDatabaseDown(err);
    return c.json(
      errorBody(down ? 'unavailable' : 'internal', down ? 'the database is unavailable; try again shortly' : 'internal error', requestId),
      down ? 503 : 500,
    );
  });

  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`, c.get('requestId') ?? ''), 404));

  for (const route of routes) {
    app[route.method](route.path, async (c) => {
      const actor = route.public ? (undefined as unknown as Actor) : await authenticateRequest(ctx, c, opts.localActor);
      if (actor) c.set('actor', actor);
      let body: unknown;
      if (route.body) {
        let raw: unknown;
        try {
          raw = await c.req.json();
        } catch {
          throw new AppError('invalid_argument', 'the request body is not valid JSON');
        }
        const r = route.body.safeParse(raw);
        if (!r.success) {
          const m = zodMessage('body', r.error);
          throw new AppError('invalid_argument', m.message, { field: m.field });
        }
        body = r.data;
      }
      let query: unknown = {};
      if (route.query) {
        const r = route.query.safeParse(c.req.query());
        if (!r.success) {
          const m = zodMessage('query', r.error);
          throw new AppError('invalid_argument', m.message, { field: m.field });
        }
        query = r.data;
      }
      const out = await route.handler({ ctx, actor, params: c.req.param() as Record<string, string>, body, query, c });
      if (route.raw) return out as Response;
      return c.json(out as object, route.status ?? 200);
    });
  }
  return app;
}

/** The token of an Authorization header: Bearer, or Basic with the token as the password. */
export function credentialsOf(h: string | undefined): { secret?: string; claimedUser?: string } {
  if (!h) return {};
  if (/^bearer /i.test(h)) return { secret: h.slice(7).trim() };
  if (/^basic /i.test(h)) {
    // Git and Mercurial clients send the token as the password of Basic auth.
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i >= 0) return { claimedUser: decoded.slice(0, i), secret: decoded.slice(i + 1) };
  }
  return {};
}

async function authenticateRequest(ctx: AppContext, c: Context<Env>, local: Actor | undefined): Promise<Actor> {
  if (local) return local;
  const { secret, claimedUser } = credentialsOf(c.req.header('authorization'));
  if (!secret) throw new AppError('unauthenticated', 'no API token: set AJAR_TOKEN or run `ajar login` (ask an admin for a token: ajar token create --user NAME)');
  const actor = await authenticate(ctx, secret);
  // One answer for a wrong, expired or revoked token, or a disabled user.
  if (!actor || (claimedUser && claimedUser !== actor.name)) {
    throw new AppError('unauthenticated', 'the API token is invalid, expired or revoked, or its user is disabled');
  }
  return actor;
}

function isDatabaseDown(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '3D000', '08006', '08001', '08003', '08004'].includes(code) ||
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|terminating connection/i.test(String((err as Error)?.message));
}

/** The OpenAPI 3.1 document for the declared routes. */
export function openApiDocument(routes: Route[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorSchema = {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'requestId'],
        properties: { code: { type: 'string', enum: Object.keys(ERROR_STATUS) }, message: { type: 'string' }, requestId: { type: 'string' } },
      },
    },
  };
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (r.query) {
      const js = z.toJSONSchema(r.query, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(js.properties ?? {})) params.push({ name, in: 'query', required: js.required?.includes(name) ?? false, schema: schema as never });
    }
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      tags: [r.tag],
      ...(r.public ? { security: [] } : {}),
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input', unrepresentable: 'any' }) } } } } : {}),
      responses: {
        '200': { description: 'OK' },
        default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Ajar API', version, description: 'Just-in-time access: requests, approvals, time-boxed grants, decisions and the audit log.' },
    components: {
      securitySchemes: { token: { type: 'http', scheme: 'bearer' }, basic: { type: 'http', scheme: 'basic' } },
      schemas: { Error: errorSchema },
    },
    security: [{ token: [] }, { basic: [] }],
    paths,
  };
}

export type { ErrorCode };

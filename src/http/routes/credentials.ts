import { z } from 'zod';
import { issuePostgresCredential } from '../../app/credentials.js';
import type { Route } from '../api.js';

export const credentialRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/credentials/postgres',
    tag: 'credentials',
    summary: 'Mint a PostgreSQL login role for your active connect grant on a target; the password is shown once and the role is dropped when the grant ends',
    body: z.strictObject({ target: z.string().min(1).max(300) }),
    status: 201,
    handler: ({ ctx, actor, body }) => issuePostgresCredential(ctx, actor, body.target),
  },
];

import { z } from 'zod';
import { issuePostgresCredential } from '../../app/credentials.js';
import { introspectToken, issueAccessToken, jwks } from '../../app/access-tokens.js';
import { issueSshCertificate } from '../../app/ssh-certificates.js';
import { sshKrl } from '../../app/ssh-krl.js';
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
  {
    method: 'post',
    path: '/v1/credentials/ssh',
    tag: 'credentials',
    summary: "Sign your SSH public key with Ajar's user CA for your active login grant on a host group; valid exactly for the grant's window",
    body: z.strictObject({ target: z.string().min(1).max(300), public_key: z.string().min(1).max(16_384) }),
    status: 201,
    handler: ({ ctx, actor, body }) => issueSshCertificate(ctx, actor, { target: body.target, publicKey: body.public_key }),
  },
  {
    method: 'post',
    path: '/v1/credentials/token',
    tag: 'credentials',
    summary: 'A signed access token (JWT, ES256) for your active grant: sub = you, aud = the resource, act = the action, exp = the grant end',
    body: z.strictObject({ resource: z.string().min(1).max(300), action: z.string().min(1).max(40) }),
    status: 201,
    handler: ({ ctx, actor, body }) => issueAccessToken(ctx, actor, body),
  },
  {
    method: 'post',
    path: '/v1/credentials/token/introspect',
    tag: 'credentials',
    summary: 'Is this access token good now (signed by Ajar, not expired, its grant not ended, revoked or released)? RFC 7662 style: {active: false} or {active: true, sub, aud, act, grant, exp, ...}; for the services that accept the tokens',
    body: z.strictObject({ token: z.string().min(1).max(16_384) }),
    handler: ({ ctx, body }) => introspectToken(ctx, body.token),
  },
  {
    method: 'get',
    path: '/v1/ssh/krl',
    tag: 'credentials',
    summary: "Ajar's SSH key revocation list (OpenSSH KRL): certificates whose grant was revoked or released early; hosts fetch it into their RevokedKeys file",
    public: true,
    raw: true,
    handler: async ({ ctx, c }) => c.body(new Uint8Array(await sshKrl(ctx)), 200, { 'content-type': 'application/octet-stream' }),
  },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    tag: 'credentials',
    summary: "Ajar's public keys for verifying its access tokens",
    public: true,
    handler: ({ ctx }) => jwks(ctx),
  },
];

// Signed webhooks in the Standard Webhooks format (standardwebhooks.com):
// webhook-id, webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" with the endpoint's whsec_ secret. The id is the delivery's,
// the same on every attempt, so a receiver can drop repeats.
import { createHmac } from 'node:crypto';
import type { AppContext } from '../app/context.js';
import { call, fromEnv, statusError } from './http.js';
import { DeliveryError } from './delivery-error.js';
import type { Delivery } from './outbox.js';

export function webhookSecretKey(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  const key = Buffer.from(b64, 'base64');
  if (key.length < 16) throw new DeliveryError('the webhook secret must be whsec_ followed by at least 16 bytes of base64 (openssl rand -base64 32)', true);
  return key;
}

export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', webhookSecretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export async function sendWebhook(ctx: AppContext, d: Delivery): Promise<void> {
  const name = d.channel.slice('webhook:'.length);
  const w = ctx.config.notify.webhooks.find((x) => x.name === name);
  if (!w) throw new DeliveryError(`webhook ${name} is no longer configured`, true);
  const label = `webhook ${name}`;
  const url = w.url ?? fromEnv(w.urlEnv!, label);
  const secret = fromEnv(w.secretEnv, label);
  // The receiver checks this against its own clock: the wall clock, not Ajar's decision clock.
  const ts = Math.floor(Date.now() / 1000);
  const body: string = d.payload.body;
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Ajar-Webhooks/1',
    'webhook-id': d.id,
    'webhook-timestamp': String(ts),
    'webhook-signature': signWebhook(secret, d.id, ts, body),
  };
  const res = await call(label, url, { method: 'POST', headers, body }, { signal: d.signal });
  await res.body?.cancel();
  if (res.status < 200 || res.status >= 300) throw statusError(label, res);
}

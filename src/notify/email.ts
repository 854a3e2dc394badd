// Email through SMTP (nodemailer). The SMTP URL (with its password) comes from
// the environment and never reaches a log line or an error message.
import nodemailer, { type Transporter } from 'nodemailer';
import { type AppContext, localAdmin } from '../app/context.js';
import { getRequest } from '../app/requests.js';
import type { EmailPayload } from './fan-out.js';
import { fromEnv } from './http.js';
import { DeliveryError } from './delivery-error.js';
import type { Delivery } from './outbox.js';
import { requestText } from './render.js';

const transports = new Map<string, Transporter>();

function transportFor(url: string): Transporter {
  let t = transports.get(url);
  if (!t) {
    t = nodemailer.createTransport(url, { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 } as never);
    transports.set(url, t);
  }
  return t;
}

export async function sendEmail(ctx: AppContext, d: Delivery): Promise<void> {
  const cfg = ctx.config.notify.email;
  if (!cfg) throw new DeliveryError('email is no longer configured', true);
  const url = fromEnv(cfg.urlEnv, 'email');
  const p = d.payload as EmailPayload;
  let text = p.text ?? '';
  if (p.requestId) {
    const r = await getRequest(ctx, localAdmin('notify'), p.requestId);
    text = requestText(r, { note: p.note ?? undefined, url: ctx.config.server.publicUrl });
  }
  try {
    await transportFor(url).sendMail({ from: cfg.from, to: d.target, subject: p.subject, text, headers: { 'X-Ajar-Event': d.eventId } });
  } catch (e) {
    const err = e as { responseCode?: number; code?: string; message?: string };
    // 5xx is a permanent refusal (no such mailbox, auth failed); 4xx and connection trouble are retried.
    if (err.responseCode && err.responseCode >= 500) throw new DeliveryError(`email to ${d.target}: the SMTP server refused it (${err.responseCode})`, true);
    if (err.responseCode) throw new DeliveryError(`email to ${d.target}: the SMTP server deferred it (${err.responseCode})`);
    throw new DeliveryError(`email to ${d.target}: ${err.code === 'EAUTH' ? 'SMTP authentication failed' : `cannot send (${err.code ?? 'error'})`}`, err.code === 'EAUTH');
  }
}

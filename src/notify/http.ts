// Outgoing HTTP for notifications: a timeout on every call, and errors that
// name the channel and what went wrong but never the URL (webhook URLs and
// query strings can hold secrets) or any credential.
import { DeliveryError } from './delivery-error.js';

export const TIMEOUT_MS = 10_000;
/** The longest Retry-After Ajar honours: the longest backoff. A receiver cannot park a delivery for years. */
export const MAX_RETRY_AFTER_SECONDS = 3600;

export function fromEnv(name: string, what: string): string {
  const v = process.env[name];
  if (!v) throw new DeliveryError(`${what}: the environment variable ${name} is not set`, true);
  return v;
}

/**
 * fetch with a timeout (and the delivery's own deadline, `signal`); network
 * failures become retryable DeliveryErrors.
 */
export async function call(label: string, url: string, init: RequestInit, opts: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}): Promise<Response> {
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await fetch(url, { ...init, redirect: 'manual', signal: opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    if (opts.signal?.aborted) throw new DeliveryError(`${label}: cut off (${String(opts.signal.reason instanceof Error ? opts.signal.reason.message : opts.signal.reason)})`);
    if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new DeliveryError(`${label}: no answer within ${timeoutMs / 1000}s`);
    throw new DeliveryError(`${label}: cannot connect${err.cause?.code ? ` (${err.cause.code})` : ''}`);
  }
}

/**
 * Retry-After in seconds, in either form RFC 9110 allows (delay-seconds or an
 * HTTP-date, against our wall clock as the sender's is), capped; undefined when
 * absent, malformed or already past.
 */
export function retryAfterSeconds(value: string | null, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  let seconds: number;
  if (/^\d+$/.test(v)) seconds = Number(v);
  else {
    const at = Date.parse(v);
    if (!/[a-z]/i.test(v) || Number.isNaN(at)) return undefined;
    seconds = Math.ceil((at - nowMs) / 1000);
  }
  return seconds > 0 ? Math.min(seconds, MAX_RETRY_AFTER_SECONDS) : undefined;
}

/** What an HTTP status means for a retry: 408, 429 and 5xx are retried; other 4xx are not. */
export function statusError(label: string, res: Response): DeliveryError {
  const transient = res.status === 408 || res.status === 429 || res.status >= 500;
  return new DeliveryError(`${label}: HTTP ${res.status}`, !transient, retryAfterSeconds(res.headers.get('retry-after')));
}

/** An error message from code Ajar does not control, without any URL (which may carry a secret in its query or userinfo). */
export function withoutUrls(message: string): string {
  return message.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi, '<url>');
}

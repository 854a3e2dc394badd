// Outgoing HTTP for notifications: a timeout on every call, and errors that
// name the channel and what went wrong but never the URL (webhook URLs and
// query strings can hold secrets) or any credential.
import { DeliveryError } from './delivery-error.js';

export const TIMEOUT_MS = 10_000;

export function fromEnv(name: string, what: string): string {
  const v = process.env[name];
  if (!v) throw new DeliveryError(`${what}: the environment variable ${name} is not set`, true);
  return v;
}

/** fetch with a timeout; network failures become retryable DeliveryErrors. */
export async function call(label: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new DeliveryError(`${label}: no answer within ${TIMEOUT_MS / 1000}s`);
    throw new DeliveryError(`${label}: cannot connect${err.cause?.code ? ` (${err.cause.code})` : ''}`);
  }
}

/** What an HTTP status means for a retry: 408, 429 and 5xx are retried; other 4xx are not. */
export function statusError(label: string, res: Response): DeliveryError {
  const retryAfter = Number(res.headers.get('retry-after'));
  const transient = res.status === 408 || res.status === 429 || res.status >= 500;
  return new DeliveryError(`${label}: HTTP ${res.status}`, !transient, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}

import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_SECONDS, retryAfterSeconds, statusError, withoutUrls } from './http.js';

describe('Retry-After', () => {
  const now = Date.parse('2026-11-23T09:00:00Z');

  it('takes delay-seconds and an HTTP-date, both forms RFC 9110 allows', () => {
    expect(retryAfterSeconds('120', now)).toBe(120);
    expect(retryAfterSeconds(' 7 ', now)).toBe(7);
    expect(retryAfterSeconds('Mon, 23 Nov 2026 09:02:30 GMT', now)).toBe(150);
  });

  it('is capped at the longest backoff, so a receiver cannot park a delivery for years', () => {
    expect(retryAfterSeconds('999999999', now)).toBe(MAX_RETRY_AFTER_SECONDS);
    expect(retryAfterSeconds('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_SECONDS);
  });

  it('ignores what is absent, malformed, zero or already past', () => {
    for (const v of [null, '', 'soon', '-5', '1.5', '0', 'Sun, 22 Nov 2026 09:00:00 GMT', '12 13']) expect(retryAfterSeconds(v, now), String(v)).toBeUndefined();
  });

  it('goes with the status: 429 and 503 are retried after it, other 4xx are permanent', () => {
    const res = (status: number, retryAfter?: string) => new Response(null, { status, headers: retryAfter ? { 'retry-after': retryAfter } : {} });
    expect(statusError('webhook x', res(429, '30'))).toMatchObject({ permanent: false, retryAfterSeconds: 30, message: 'webhook x: HTTP 429' });
    expect(statusError('webhook x', res(503))).toMatchObject({ permanent: false, retryAfterSeconds: undefined });
    expect(statusError('webhook x', res(404))).toMatchObject({ permanent: true });
  });
});

describe('unexpected error messages', () => {
  it('lose every URL, with its userinfo and query', () => {
    expect(withoutUrls('fetch https://user:pw@hooks.example.com/x?key=s3cret failed; smtp://a:b@mail:587 too')).toBe('fetch <url> failed; <url> too');
  });
});

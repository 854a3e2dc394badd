import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifySlackSignature } from './slack-interactions.js';
import { signWebhook } from './webhooks.js';

describe('Slack request signatures', () => {
  const secret = 'signing-secret';
  const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D';
  const sign = (ts: number, b = body, s = secret) => `v0=${createHmac('sha256', s).update(`v0:${ts}:${b}`).digest('hex')}`;

  it('accepts a signature made with the secret within 5 minutes either way', () => {
    expect(verifySlackSignature(secret, '1000', sign(1000), body, 1300)).toBeUndefined();
    expect(verifySlackSignature(secret, '1000', sign(1000), body, 700)).toBeUndefined();
  });

  it('refuses stale or future timestamps, other secrets, changed bodies and malformed headers', () => {
    expect(verifySlackSignature(secret, '1000', sign(1000), body, 1301)).toContain('5 minutes');
    expect(verifySlackSignature(secret, '1000', sign(1000), body, 699)).toContain('5 minutes');
    expect(verifySlackSignature(secret, '1000', sign(1000, body, 'other'), body, 1000)).toContain('does not match');
    expect(verifySlackSignature(secret, '1000', sign(1000), `${body}x`, 1000)).toContain('does not match');
    expect(verifySlackSignature(secret, '1000', sign(1001), body, 1000)).toContain('does not match');
    expect(verifySlackSignature(secret, undefined, sign(1000), body, 1000)).toContain('Timestamp');
    expect(verifySlackSignature(secret, '1e3', sign(1000), body, 1000)).toContain('Timestamp');
    expect(verifySlackSignature(secret, '1000', undefined, body, 1000)).toContain('Signature');
    expect(verifySlackSignature(secret, '1000', sign(1000).toUpperCase(), body, 1000)).toContain('Signature');
    expect(verifySlackSignature(secret, '1000', 'v1=abc', body, 1000)).toContain('Signature');
  });
});

describe('Standard Webhooks signatures', () => {
  it('verify with the reference implementation, and not with another secret or body', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type: 'grant.revoked', timestamp: new Date().toISOString(), data: { grant_id: 'grt_1' } });
    const headers = { 'webhook-id': 'dlv_1', 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook(secret, 'dlv_1', ts, body) };
    expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'grant.revoked' });
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(body.replace('grt_1', 'grt_2'), headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'dlv_2' })).toThrow();
  });

  it('refuses a secret too short to be one', () => {
    expect(() => signWebhook('whsec_c2hvcnQ=', 'dlv_1', 1, '{}')).toThrow('at least 16 bytes');
  });
});

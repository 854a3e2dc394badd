// Which audit events notify anyone, and the public event types webhooks carry.
// Pure: no I/O.

/** The events a webhook endpoint may subscribe to (Standard Webhooks `type`). */
export const WEBHOOK_EVENTS = [
  'request.created',
  'request.approved',
  'request.denied',
  'request.expired',
  'request.cancelled',
  'request.escalated',
  'request.reminded',
  'grant.activated',
  'grant.extended',
  'grant.expired',
  'grant.revoked',
  'grant.released',
  'grant.consumed',
  'breakglass.used',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * Audit event types that get an outbox row in the transaction that writes them:
 * every public event, and what becomes one (grant.created, extension requests), and
 * request.reviewed (one approval of several), which only updates Slack messages in place.
 */
export const NOTIFIABLE = new Set<string>([...WEBHOOK_EVENTS, 'grant.created', 'grant.extension_requested', 'request.reviewed']);

/**
 * The public type of an audit event, or undefined when it is not one. A grant
 * that starts at once is activated when it is created; a scheduled one when the
 * sweep starts it (grant.activated).
 */
export function publicType(type: string, details: Record<string, unknown>): WebhookEvent | undefined {
  if (type === 'grant.created') return details.state === 'active' ? 'grant.activated' : undefined;
  if (type === 'grant.extension_requested') return 'request.created';
  return (WEBHOOK_EVENTS as readonly string[]).includes(type) ? (type as WebhookEvent) : undefined;
}

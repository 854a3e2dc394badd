// From one outbox row (an audit event) to the deliveries it needs: one per
// channel and recipient. Runs in the worker's transaction, with no network I/O;
// what a Slack message or an email says about a request is rendered when it is
// sent, from the request as it is then, so deliveries may go in any order.
import type { Transaction } from 'kysely';
import type { Identity } from '../config.js';
import type { AppContext } from '../app/context.js';
import type { AuditEvent } from '../app/audit-log.js';
import { jsonList, planOf } from '../app/requests.js';
import type { RequestRow } from '../app/views.js';
import type { DB } from '../store/schema.js';
import { publicType } from './events.js';
import { admins, approversNow, decidedAtFiling, escalationTier, person } from './recipients.js';

export interface PlannedDelivery {
  channel: string;
  target: string;
  payload: SlackPayload | EmailPayload | JiraPayload | WebhookPayload;
}
export type SlackPayload =
  | { op: 'post'; requestId: string; note?: string }
  | { op: 'update'; requestId: string }
  | { op: 'text'; text: string };
export interface EmailPayload { subject: string; requestId: string | null; note: string | null; text: string | null }
export interface JiraPayload { body: string }
export interface WebhookPayload { type: string; body: string }

const TOLD_REQUESTER: Record<string, string> = {
  'request.approved': 'Your request was approved',
  'request.denied': 'Your request was denied',
  'request.expired': 'Your request expired without a decision',
};

export async function planDeliveries(ctx: AppContext, tx: Transaction<DB>, e: AuditEvent, now: Date): Promise<PlannedDelivery[]> {
  const n = ctx.config.notify;
  const out: PlannedDelivery[] = [];
  const r: RequestRow | undefined = e.requestId ? await tx.selectFrom('access_requests').selectAll().where('id', '=', e.requestId).executeTakeFirst() : undefined;
  const reviewed = r !== undefined && !decidedAtFiling(r);

  // Who hears of it, by role.
  let approvers: Identity[] = [];
  let note: string | undefined;
  if (r && reviewed && (e.type === 'request.created' || e.type === 'grant.extension_requested') && r.state === 'pending') {
    approvers = await approversNow(ctx, tx, r, now);
    if (e.type === 'grant.extension_requested') note = `Extension of grant ${r.extends_grant_id}`;
  } else if (r && e.type === 'request.escalated' && r.state === 'pending') {
    approvers = await escalationTier(ctx, tx, r, Number(e.details.stage) - 1, Number(e.details.tier ?? 1) - 1);
    note = `Escalated to you: ${e.reason}`;
  } else if (r && e.type === 'request.reminded' && r.state === 'pending') {
    approvers = await approversNow(ctx, tx, r, now);
    note = `Reminder: still waiting for a decision (${e.details.pendingFor})`;
  }
  const requester = r && reviewed && TOLD_REQUESTER[e.type] ? await person(ctx, tx, r.requester) : undefined;
  const breakGlassAdmins = e.type === 'breakglass.used' ? await admins(ctx, tx, e.subject ?? '') : [];
  const breakGlassText = `Break-glass: ${e.subject} took ${e.action} on ${e.resource} at once (grant ${e.grantId}, until ${String(e.details.endsAt)}). Reason: ${e.reason}. Review it: ajar breakglass close ${e.grantId} --note "..."`;

  if (n.slack) {
    const s = n.slack;
    if (approvers.length && r) {
      if (e.type === 'request.created' || e.type === 'grant.extension_requested') {
        for (const c of s.channels) out.push({ channel: 'slack', target: `channel:${c}`, payload: { op: 'post', requestId: r.id, ...(note ? { note } : {}) } });
      }
      if (s.directMessages) for (const a of approvers) out.push({ channel: 'slack', target: `user:${a.name}`, payload: { op: 'post', requestId: r.id, ...(note ? { note } : {}) } });
      else if (note && e.type !== 'request.created') for (const c of s.channels) out.push({ channel: 'slack', target: `channel:${c}`, payload: { op: 'post', requestId: r.id, note } });
    }
    // Every message about the request shows what happened, each updated on its own. One
    // approval of several that a later event has since decided needs no update of its own.
    const update = ['request.approved', 'request.denied', 'request.expired', 'request.cancelled'].includes(e.type) || (e.type === 'request.reviewed' && r?.state === 'pending');
    if (r && update) {
      const messages = await tx.selectFrom('slack_messages').select(['channel', 'ts']).where('request_id', '=', r.id).execute();
      for (const m of messages) out.push({ channel: 'slack', target: `message:${m.channel}:${m.ts}`, payload: { op: 'update', requestId: r.id } });
    }
    if (requester && s.directMessages) out.push({ channel: 'slack', target: `user:${requester.name}`, payload: { op: 'post', requestId: r!.id, note: TOLD_REQUESTER[e.type]! } });
    if (e.type === 'breakglass.used') {
      for (const c of s.channels) out.push({ channel: 'slack', target: `channel:${c}`, payload: { op: 'text', text: breakGlassText } });
      if (s.directMessages) for (const a of breakGlassAdmins) out.push({ channel: 'slack', target: `user:${a.name}`, payload: { op: 'text', text: breakGlassText } });
    }
  }

  if (n.email) {
    const mail = (to: Identity | undefined, subject: string, p: Omit<EmailPayload, 'subject'>) => {
      if (to?.email) out.push({ channel: 'email', target: to.email, payload: { subject, ...p } });
    };
    if (r) {
      const what = `${r.requester}: ${jsonList(r.actions).join(', ')} on ${jsonList(r.resources).join(', ')}`;
      for (const a of approvers) mail(a, `${note ? `${note.split(':')[0]} — ` : ''}Access request ${r.id} (${what})`, { requestId: r.id, note: note ?? null, text: null });
      if (requester) mail(requester, `${TOLD_REQUESTER[e.type]}: ${r.id}`, { requestId: r.id, note: TOLD_REQUESTER[e.type]!, text: null });
    }
    for (const a of breakGlassAdmins) mail(a, `Break-glass access used by ${e.subject}`, { requestId: null, note: null, text: breakGlassText });
  }

  const pt = publicType(e.type, e.details);
  // Only a ticket Jira confirmed at filing gets comments: anything else in the ticket
  // field (another tracker's id, free text) is not a Jira issue to write to.
  if (n.jira?.comment && r?.ticket && r.ticket_verified && e.grantId) {
    const ended = ['grant.expired', 'grant.revoked', 'grant.released', 'grant.consumed'].includes(e.type);
    if (pt === 'grant.activated' || ended) {
      // A scheduled grant's activation (from the sweep) carries no end: read it from the grant.
      const grantEnd = e.details.endsAt ?? (await tx.selectFrom('grants').select('ends_at').where('id', '=', e.grantId).executeTakeFirst())?.ends_at;
      const until = grantEnd ? new Date(grantEnd as string).toISOString() : 'its end';
      const body = ended
        ? `Ajar: the access granted for this ticket has ended (${e.type.slice(6)}${e.reason ? `: ${e.reason}` : ''}). Grant ${e.grantId}, ${e.subject}: ${e.action} on ${e.resource}.`
        : `Ajar: access granted to ${e.subject} for this ticket: ${e.action} on ${e.resource}, from now until ${until}. Reason: ${r.reason}. Grant ${e.grantId} (request ${r.id}).`;
      out.push({ channel: 'jira', target: r.ticket, payload: { body } });
    }
  }

  if (pt) {
    for (const w of n.webhooks) {
      if (!w.events.includes(pt)) continue;
      const data: Record<string, unknown> = {
        event_id: e.id,
        actor: e.actor,
        subject: e.subject,
        request_id: e.requestId,
        grant_id: e.grantId,
        resources: e.resource ? e.resource.split(' ') : [],
        actions: e.action ? e.action.split(' ') : [],
        reason: e.reason,
        details: e.details,
      };
      if (r) data.request = { id: r.id, requester: r.requester, reason: r.reason, ticket: r.ticket, duration_seconds: r.duration_seconds, rules: planOf(r).rules, break_glass: planOf(r).breakGlass === true };
      out.push({ channel: `webhook:${w.name}`, target: w.name, payload: { type: pt, body: JSON.stringify({ type: pt, timestamp: e.at, data }) } });
    }
  }
  return out;
}

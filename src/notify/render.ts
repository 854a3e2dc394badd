// What people read: one summary of a request, as Slack blocks, as plain text
// (email, DMs) and as a Jira comment. Pure.
import type { RequestDto } from '../app/views.js';

const STATE_LINE: Record<string, string> = {
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Expired without a decision',
  cancelled: 'Cancelled by the requester',
};

export function headline(r: RequestDto): string {
  return `${r.requester} requests ${r.actions.join(', ')} on ${r.resources.join(', ')} for ${r.duration}`;
}

function progress(r: RequestDto): string {
  return r.approvals.map((a) => `${a.have}/${a.count} of ${[...a.groups.map((g) => `group ${g}`), ...a.users].join(' or ') || 'approvers'}`).join(', then ') || 'automatic';
}

export function outcome(r: RequestDto): string | null {
  if (r.state === 'pending') return null;
  const who = r.decidedBy && r.decidedBy !== 'ajar' ? ` by ${r.decidedBy}` : '';
  const why = r.decisionReason && r.state === 'denied' ? `: ${r.decisionReason}` : '';
  return `${STATE_LINE[r.state] ?? r.state}${r.state === 'approved' || r.state === 'denied' ? who : ''}${why}`;
}

/** Plain text: email bodies and Slack fallbacks. */
export function requestText(r: RequestDto, opts: { note?: string | undefined; url?: string | undefined } = {}): string {
  const lines = [
    ...(opts.note ? [opts.note, ''] : []),
    headline(r),
    '',
    `Reason:    ${r.reason}`,
    ...(r.ticket ? [`Ticket:    ${r.ticket}`] : []),
    ...Object.entries(r.fields).map(([k, v]) => `${k}: ${v}`),
    ...(r.artifact ? [`Artifact:  ${r.artifact}`] : []),
    `Rule:      ${r.rules.join(', ')}`,
    `Approvals: ${progress(r)}`,
    `Request:   ${r.id} (expires ${r.expiresAt} unless decided)`,
  ];
  const o = outcome(r);
  if (o) lines.push('', o);
  else lines.push('', `Approve: ajar approve ${r.id}`, `Deny:    ajar deny ${r.id} --reason "..."`);
  if (opts.url) lines.push('', opts.url);
  return lines.join('\n');
}

export const mrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack's limits, in characters: a text object (a section's text, a context element) and each of a section's fields. */
export const TEXT_LIMIT = 3000;
export const FIELD_LIMIT = 2000;

/**
 * Escaped mrkdwn cut to `max` characters with "…", never inside an entity (&amp;)
 * or a surrogate pair: Slack refuses a longer text (invalid_blocks) and the message
 * would never reach the approvers. The full text stays in Ajar and in the email.
 */
export function fit(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  return `${escaped.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, '').replace(/&[a-z]*$/, '')}…`;
}

const field = (label: string, value: string) => ({ type: 'mrkdwn', text: fit(`*${label}*\n${value}`, FIELD_LIMIT) });

/** A Block Kit message; Approve / Deny buttons while the request is pending. */
export function requestBlocks(r: RequestDto, note?: string): unknown[] {
  const fields = [
    field('Who', mrkdwn(r.requester)),
    field('For', `${r.duration}${r.maxUses ? `, ${r.maxUses} use(s)` : ''}`),
    field('What', `${mrkdwn(r.actions.join(', '))} on ${r.resources.map((x) => `\`${mrkdwn(x)}\``).join(', ')}`),
    field('Rule', mrkdwn(r.rules.join(', '))),
    ...(r.ticket ? [field('Ticket', mrkdwn(r.ticket))] : []),
    field('Approvals', mrkdwn(progress(r))),
  ];
  const blocks: unknown[] = [
    ...(note ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: fit(mrkdwn(note), TEXT_LIMIT) }] }] : []),
    { type: 'section', text: { type: 'mrkdwn', text: fit(`*Access request* \`${r.id}\`\n*Why:* ${mrkdwn(r.reason)}`, TEXT_LIMIT) }, fields },
  ];
  const o = outcome(r);
  if (o) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${fit(mrkdwn(o), TEXT_LIMIT - 2)}*` } });
  else {
    blocks.push({
      type: 'actions',
      block_id: 'ajar_review',
      elements: [
        { type: 'button', action_id: 'ajar_approve', style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: r.id },
        { type: 'button', action_id: 'ajar_deny', style: 'danger', text: { type: 'plain_text', text: 'Deny' }, value: r.id },
      ],
    });
  }
  return blocks;
}

/** The modal that asks why, when Deny is pressed. */
export function denyModal(requestId: string, context: { channel?: string | undefined; ts?: string | undefined }): unknown {
  return {
    type: 'modal',
    callback_id: 'ajar_deny',
    private_metadata: JSON.stringify({ requestId, ...context }),
    title: { type: 'plain_text', text: 'Deny access' },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `Deny request \`${requestId}\`` } },
      { type: 'input', block_id: 'reason', label: { type: 'plain_text', text: 'Why?' }, element: { type: 'plain_text_input', action_id: 'reason', multiline: true, max_length: 2000 } },
    ],
  };
}

// Slack: the Web API calls Ajar makes (chat.postMessage, chat.update, views.open,
// users.lookupByEmail) and the deliveries that use them. Messages about a request
// are rendered from the request as it is when sent, and remembered
// (slack_messages) so a decision updates each of them in place.
import type { Transaction } from 'kysely';
import type { AppContext } from '../app/context.js';
import { localAdmin } from '../app/context.js';
import { getRequest } from '../app/requests.js';
import type { DB } from '../store/schema.js';
import type { SlackPayload } from './fan-out.js';
import { call, fromEnv, statusError } from './http.js';
import { DeliveryError } from './delivery-error.js';
import type { Delivery } from './outbox.js';
import { headline, requestBlocks, requestText } from './render.js';

/** Slack errors worth retrying; any other `ok: false` is permanent. */
const TRANSIENT = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);

export async function slackApi(ctx: AppContext, method: string, args: Record<string, unknown>): Promise<Record<string, any>> {
  const s = ctx.config.notify.slack;
  if (!s) throw new DeliveryError('slack is no longer configured', true);
  const label = `slack ${method}`;
  const res = await call(label, `${s.apiUrl}/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fromEnv(s.tokenEnv, 'slack')}`, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(args),
  });
  if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel();
    throw statusError(label, res);
  }
  let body: Record<string, any>;
  try {
    body = (await res.json()) as Record<string, any>;
  } catch {
    throw new DeliveryError(`${label}: HTTP ${res.status}, not a Slack API answer`);
  }
  if (body.ok !== true) {
    const error = typeof body.error === 'string' ? body.error : 'unknown_error';
    throw new DeliveryError(`${label}: ${error}`, !TRANSIENT.has(error));
  }
  return body;
}

/** The Slack user id of an Ajar identity: from the config, remembered, or users.lookupByEmail. */
export async function slackUserOf(ctx: AppContext, name: string): Promise<string> {
  const id = ctx.config.identities.get(name);
  if (id?.slack) return id.slack;
  const known = await ctx.db.selectFrom('slack_users').select('slack_user_id').where('identity', '=', name).executeTakeFirst();
  if (known) return known.slack_user_id;
  if (!id?.email) throw new DeliveryError(`slack: ${name} has no email or slack id in the config`, true);
  const found = await slackApi(ctx, 'users.lookupByEmail', { email: id.email });
  const slackId = String(found.user?.id ?? '');
  if (!/^[UW][A-Z0-9]+$/.test(slackId)) throw new DeliveryError('slack users.lookupByEmail: no user id in the answer', true);
  await remember(ctx, name, slackId);
  return slackId;
}

/** Keep an identity's Slack user id, found by email, for DMs and to map button presses back. */
async function remember(ctx: AppContext, identity: string, slackId: string): Promise<void> {
  const at = ctx.clock.now();
  await ctx.db
    .insertInto('slack_users')
    .values({ identity, slack_user_id: slackId, resolved_at: at })
    .onConflict((oc) => oc.column('identity').doUpdateSet({ slack_user_id: slackId, resolved_at: at }))
    .execute();
}

/**
 * The Ajar identity behind a Slack user id, or undefined (never guessed): the
 * config's slack id, a remembered lookup, or users.info's verified profile email
 * matched to exactly one identity's email.
 */
export async function identityOfSlackUser(ctx: AppContext, slackId: string): Promise<string | undefined> {
  if (!/^[UW][A-Z0-9]{2,20}$/.test(slackId)) return undefined;
  for (const id of ctx.config.identities.values()) if (id.slack === slackId) return id.name;
  const row = await ctx.db.selectFrom('slack_users').select('identity').where('slack_user_id', '=', slackId).executeTakeFirst();
  // A mapping remembered for someone whose config now names another Slack id is stale.
  if (row) return ctx.config.identities.get(row.identity)?.slack ? undefined : row.identity;
  let email: string | undefined;
  try {
    const info = await slackApi(ctx, 'users.info', { user: slackId });
    email = typeof info.user?.profile?.email === 'string' ? info.user.profile.email.toLowerCase() : undefined;
  } catch (e) {
    ctx.log.warn({ problem: (e as Error).message }, 'could not look up a Slack user');
    return undefined;
  }
  const matches = [...ctx.config.identities.values()].filter((id) => id.email?.toLowerCase() === email && !id.slack);
  if (!email || matches.length !== 1) return undefined;
  const name = matches[0]!.name;
  await remember(ctx, name, slackId);
  return name;
}

async function channelOf(ctx: AppContext, target: string): Promise<string> {
  return target.startsWith('user:') ? slackUserOf(ctx, target.slice(5)) : target.slice('channel:'.length);
}

export async function sendSlack(ctx: AppContext, d: Delivery): Promise<void | ((tx: Transaction<DB>) => Promise<void>)> {
  const p = d.payload as SlackPayload;
  if (p.op === 'text') {
    await slackApi(ctx, 'chat.postMessage', { channel: await channelOf(ctx, d.target), text: p.text });
    return;
  }
  const r = await getRequest(ctx, localAdmin('notify'), p.requestId);
  if (p.op === 'post') {
    const posted = await slackApi(ctx, 'chat.postMessage', {
      channel: await channelOf(ctx, d.target),
      text: `${p.note ? `${p.note}: ` : ''}${headline(r)}`,
      blocks: requestBlocks(r, p.note),
      unfurl_links: false,
    });
    const channel = String(posted.channel ?? '');
    const ts = String(posted.ts ?? '');
    if (!channel || !ts) return;
    return async (tx) => {
      await tx
        .insertInto('slack_messages')
        .values({ request_id: r.id, channel, ts, kind: d.target.startsWith('user:') ? 'dm' : 'channel' })
        .onConflict((oc) => oc.columns(['request_id', 'channel']).doUpdateSet({ ts }))
        .execute();
    };
  }
  // update: every message about the request shows its state now. A message whose
  // post is still on its way will be rendered from the same state when it goes.
  const messages = await ctx.db.selectFrom('slack_messages').selectAll().where('request_id', '=', r.id).execute();
  const problems: string[] = [];
  for (const m of messages) {
    try {
      await slackApi(ctx, 'chat.update', { channel: m.channel, ts: m.ts, text: requestText(r).split('\n')[0], blocks: requestBlocks(r) });
    } catch (e) {
      // A message someone deleted stays deleted; anything else is tried again.
      if (!(e instanceof DeliveryError && e.permanent)) problems.push((e as Error).message);
    }
  }
  if (problems.length) throw new DeliveryError(problems.join('; '));
}

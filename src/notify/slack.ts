// Slack: the Web API calls Ajar makes (chat.postMessage, chat.update, views.open,
// users.lookupByEmail, users.info) and the deliveries that use them. Messages about
// a request are rendered from the request as it is when sent and remembered, one
// row per message (slack_messages), so a decision updates every one in place.
import type { Transaction } from 'kysely';
import type { AppContext } from '../app/context.js';
import { localAdmin, newId } from '../app/context.js';
import { getRequest } from '../app/requests.js';
import type { RequestDto } from '../app/views.js';
import type { DB } from '../store/schema.js';
import type { SlackPayload } from './fan-out.js';
import { call, fromEnv, statusError } from './http.js';
import { DeliveryError } from './delivery-error.js';
import type { AfterSend, Delivery } from './outbox.js';
import { fit, headline, mrkdwn, requestBlocks, TEXT_LIMIT } from './render.js';

/** Slack errors worth retrying; any other `ok: false` is permanent. */
const TRANSIENT = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);
/** Read methods take form-encoded arguments only: Slack does not read a JSON body there. Write methods take JSON. */
const FORM_METHODS = new Set(['users.lookupByEmail', 'users.info']);
/** chat.update answers for a message that is gone (deleted, or its channel): nothing left to update. */
const GONE = new Set(['message_not_found', 'channel_not_found', 'cant_update_message', 'is_archived']);

export async function slackApi(ctx: AppContext, method: string, args: Record<string, unknown>, opts: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}): Promise<Record<string, any>> {
  const s = ctx.config.notify.slack;
  if (!s) throw new DeliveryError('slack is no longer configured', true);
  const label = `slack ${method}`;
  const form = FORM_METHODS.has(method);
  const res = await call(
    label,
    `${s.apiUrl}/${method}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${fromEnv(s.tokenEnv, 'slack')}`, 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json; charset=utf-8' },
      body: form ? new URLSearchParams(Object.entries(args).map(([k, v]): [string, string] => [k, String(v)])).toString() : JSON.stringify(args),
    },
    opts,
  );
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
    const error = typeof body.error === 'string' ? body.error.slice(0, 100) : 'unknown_error';
    throw new DeliveryError(`${label}: ${error}`, !TRANSIENT.has(error));
  }
  return body;
}

/**
 * The email of a Slack account that Ajar may tie to an Ajar identity: a person
 * (not a bot), not deleted, whose email Slack has confirmed. Anything else could
 * be someone who typed an approver's address into their own profile.
 */
export function confirmedEmail(user: unknown): string | undefined {
  const u = user as { deleted?: unknown; is_bot?: unknown; is_email_confirmed?: unknown; profile?: { email?: unknown } } | undefined;
  if (!u || u.deleted !== false || u.is_bot !== false || u.is_email_confirmed !== true) return undefined;
  return typeof u.profile?.email === 'string' && u.profile.email ? u.profile.email.toLowerCase() : undefined;
}

/** The Slack user id of an Ajar identity: from the config, remembered, or users.lookupByEmail. */
export async function slackUserOf(ctx: AppContext, name: string, signal?: AbortSignal): Promise<string> {
  const id = ctx.config.identities.get(name);
  if (id?.slack) return id.slack;
  const known = await ctx.db.selectFrom('slack_users').select('slack_user_id').where('identity', '=', name).executeTakeFirst();
  if (known) return known.slack_user_id;
  if (!id?.email) throw new DeliveryError(`slack: ${name} has no email or slack id in the config`, true);
  const found = await slackApi(ctx, 'users.lookupByEmail', { email: id.email }, { signal });
  const slackId = String(found.user?.id ?? '');
  if (!/^[UW][A-Z0-9]+$/.test(slackId)) throw new DeliveryError('slack users.lookupByEmail: no user id in the answer', true);
  if (confirmedEmail(found.user) !== id.email.toLowerCase()) {
    throw new DeliveryError(`slack: the Slack account with ${name}'s email is a bot, deleted, or its email is not confirmed; not messaging it`, true);
  }
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
 * config's slack id, a remembered lookup, or users.info's confirmed profile email
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
    email = confirmedEmail((await slackApi(ctx, 'users.info', { user: slackId })).user);
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

async function channelOf(ctx: AppContext, d: Delivery): Promise<string> {
  return d.target.startsWith('user:') ? slackUserOf(ctx, d.target.slice(5), d.signal) : d.target.slice('channel:'.length);
}

/** What a rendering of a request depends on that can change: its state and its reviews (which only grow). */
const versionOf = (r: RequestDto) => `${r.state}:${r.reviews.length}`;

/**
 * Whether the request still is as it was rendered, read under a share lock: a
 * decision committing now waits for us (and then sees our message), or we see it.
 */
async function unchanged(tx: Transaction<DB>, rendered: RequestDto): Promise<boolean> {
  const now = await tx.selectFrom('access_requests').select('state').where('id', '=', rendered.id).forShare().executeTakeFirst();
  const reviews = await tx.selectFrom('request_reviews').select((eb) => eb.fn.countAll<string>().as('n')).where('request_id', '=', rendered.id).executeTakeFirstOrThrow();
  return `${now?.state}:${Number(reviews.n)}` === versionOf(rendered);
}

/** A message about the request, as it is now: the one-line text (notifications, screen readers) and the blocks. */
const message = (r: RequestDto, note: string | null | undefined) => ({ text: fit(mrkdwn(`${note ? `${note}: ` : ''}${headline(r)}`), TEXT_LIMIT), blocks: requestBlocks(r, note ?? undefined) });

export async function sendSlack(ctx: AppContext, d: Delivery): Promise<void | AfterSend> {
  const p = d.payload as SlackPayload;
  if (p.op === 'text') {
    await slackApi(ctx, 'chat.postMessage', { channel: await channelOf(ctx, d), text: p.text }, { signal: d.signal });
    return;
  }
  const r = await getRequest(ctx, localAdmin('notify'), p.requestId);
  if (p.op === 'post') {
    const posted = await slackApi(ctx, 'chat.postMessage', { channel: await channelOf(ctx, d), ...message(r, p.note), unfurl_links: false }, { signal: d.signal });
    const channel = String(posted.channel ?? '');
    const ts = String(posted.ts ?? '');
    if (!channel || !ts) return;
    return async (tx) => {
      await tx
        .insertInto('slack_messages')
        .values({ request_id: r.id, channel, ts, kind: d.target.startsWith('user:') ? 'dm' : 'channel', note: p.note ?? null })
        .onConflict((oc) => oc.columns(['request_id', 'channel', 'ts']).doNothing())
        .execute();
      // Decided while the post was on its way: the update fanned out for the decision
      // did not know this message yet, so this one asks for its own.
      if (!(await unchanged(tx, r))) await tx.insertInto('deliveries').values(updateOf(d, r.id, channel, ts, ctx.clock.now())).onConflict((oc) => oc.columns(['event_id', 'channel', 'target']).doNothing()).execute();
    };
  }
  if (d.target === 'messages') return updateAll(ctx, r, d); // queued before 0030_notify_reliability
  // update: this message shows the request as it is now.
  const [, channel, ts] = d.target.split(':');
  const m = await ctx.db.selectFrom('slack_messages').select('note').where('request_id', '=', r.id).where('channel', '=', channel!).where('ts', '=', ts!).executeTakeFirst();
  try {
    await slackApi(ctx, 'chat.update', { channel, ts, ...message(r, m?.note) }, { signal: d.signal });
  } catch (e) {
    // A message someone deleted stays deleted; anything else is retried or dead-lettered.
    if (e instanceof DeliveryError && e.permanent && GONE.has(e.message.replace(/^slack chat\.update: /, ''))) return;
    throw e;
  }
  // Two updates in flight can land in either order: the one that rendered an older state sends again.
  return async (tx) => ((await unchanged(tx, r)) ? undefined : 'again');
}

/** A delivery that updates one message in place. */
function updateOf(d: Delivery, requestId: string, channel: string, ts: string, now: Date) {
  return {
    id: newId('dlv'),
    event_id: d.eventId,
    event_type: d.eventType,
    channel: 'slack',
    target: `message:${channel}:${ts}`,
    payload: JSON.stringify({ op: 'update', requestId }),
    state: 'pending' as const,
    next_attempt_at: now,
    created_at: now,
  };
}

async function updateAll(ctx: AppContext, r: RequestDto, d: Delivery): Promise<void> {
  const messages = await ctx.db.selectFrom('slack_messages').selectAll().where('request_id', '=', r.id).execute();
  for (const m of messages) await slackApi(ctx, 'chat.update', { channel: m.channel, ts: m.ts, ...message(r, m.note) }, { signal: d.signal }).catch((e) => {
    if (!(e instanceof DeliveryError && e.permanent)) throw e;
  });
}

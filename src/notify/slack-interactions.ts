// What Slack posts when someone presses Approve or Deny (or submits the deny
// modal). Nothing is believed before the request signature checks out: v0
// HMAC-SHA256 over "v0:<timestamp>:<body>" with the signing secret, the timestamp
// within 5 minutes of our clock, compared in constant time; a payload seen before
// is refused (replay). The Slack user must map to an Ajar identity, and the
// decision goes through the same reviewRequest as the CLI: every policy rule holds.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Actor, type AppContext, activeIdentity, sha256 } from '../app/context.js';
import { reviewRequest } from '../app/requests.js';
import { AppError } from '../domain/errors.js';
import { DeliveryError } from './delivery-error.js';
import { withoutUrls } from './http.js';
import { denyModal } from './render.js';
import { identityOfSlackUser, slackApi } from './slack.js';

const MAX_SKEW_SECONDS = 300;

export type InteractionAnswer = { status: 200 | 400 | 401 | 404; body: unknown };

export function verifySlackSignature(secret: string, timestamp: string | undefined, signature: string | undefined, body: string, nowSeconds: number): string | undefined {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return 'missing or malformed X-Slack-Request-Timestamp';
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) return 'the request timestamp is more than 5 minutes away from now';
  if (!signature || !/^v0=[0-9a-f]{64}$/.test(signature)) return 'missing or malformed X-Slack-Signature';
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`);
  if (!timingSafeEqual(expected, Buffer.from(signature))) return 'the signature does not match';
  return undefined;
}

/** How long a dialog waits for the Slack user lookup: Slack wants its answer within 3 seconds. */
const LOOKUP_WINDOW_MS = 1500;

async function actorOf(ctx: AppContext, slackUser: string): Promise<Actor | undefined> {
  const name = await identityOfSlackUser(ctx, slackUser);
  const identity = name ? await activeIdentity(ctx, ctx.db, name) : undefined;
  return identity ? { ...identity, via: 'slack' } : undefined;
}

/** `p`, or 'late' once `ms` have passed (p goes on and its result is kept for later). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'late'>((ok) => (timer = setTimeout(() => ok('late'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const refuse = (status: 400 | 401 | 404, message: string): InteractionAnswer => ({ status, body: { error: { code: status === 401 ? 'unauthenticated' : status === 404 ? 'not_found' : 'invalid_argument', message } } });

/** Tell a Slack user something directly; best effort (the decision itself never depends on it). */
async function tell(ctx: AppContext, slackUser: string, text: string): Promise<void> {
  try {
    await slackApi(ctx, 'chat.postMessage', { channel: slackUser, text });
  } catch (e) {
    ctx.log.warn({ problem: e instanceof DeliveryError ? e.message : String(e) }, 'could not tell a Slack user');
  }
}

export async function handleSlackInteraction(ctx: AppContext, headers: { timestamp?: string | undefined; signature?: string | undefined; contentType?: string | undefined }, body: string): Promise<InteractionAnswer> {
  const s = ctx.config.notify.slack;
  if (!s) return refuse(404, 'Slack is not configured');
  const secret = process.env[s.signingSecretEnv];
  if (!secret) {
    ctx.log.error({ env: s.signingSecretEnv }, 'the Slack signing secret is not set; refusing Slack interactions');
    return refuse(401, 'the request signature cannot be verified');
  }
  const now = ctx.clock.now();
  const bad = verifySlackSignature(secret, headers.timestamp, headers.signature, body, Math.floor(now.getTime() / 1000));
  if (bad) {
    ctx.log.warn({ problem: bad }, 'Slack interaction refused');
    return refuse(401, `refused: ${bad}`);
  }
  // Replays: a signed payload is applied once. Older entries cannot verify any more (timestamp), so they go.
  await ctx.db.deleteFrom('slack_replays').where('seen_at', '<', new Date(now.getTime() - 2 * MAX_SKEW_SECONDS * 1000)).execute();
  const fresh = await ctx.db
    .insertInto('slack_replays')
    .values({ signature: sha256(headers.signature!), seen_at: now })
    .onConflict((oc) => oc.column('signature').doNothing())
    .returning('signature')
    .executeTakeFirst();
  if (!fresh) {
    ctx.log.warn({ problem: 'replayed' }, 'Slack interaction refused');
    return refuse(401, 'refused: this payload was already received (replay)');
  }

  let payload: any;
  try {
    const raw = new URLSearchParams(body).get('payload');
    payload = raw ? JSON.parse(raw) : undefined;
  } catch {
    payload = undefined;
  }
  if (!payload || typeof payload !== 'object' || typeof payload.type !== 'string' || typeof payload.user?.id !== 'string') {
    return refuse(400, 'not a Slack interaction payload (a form field `payload` holding JSON with type and user)');
  }
  const slackUser: string = payload.user.id;
  // Who pressed: looked up once, possibly through users.info (a network call).
  const lookup = actorOf(ctx, slackUser).catch((e) => {
    ctx.log.warn({ problem: withoutUrls(String(e)) }, 'could not look up a Slack user');
    return undefined;
  });
  const unknown = async (requestId: string) => {
    ctx.log.warn({ slackUser }, 'a Slack user with no Ajar identity pressed a button');
    await tell(ctx, slackUser, `Ajar does not know your Slack account, so it cannot take your decision on ${requestId}. Ask an Ajar admin to add your email (or slack id) to your user in the config.`);
    return { status: 200 as const, body: {} };
  };

  if (payload.type === 'block_actions') {
    const action = Array.isArray(payload.actions) ? payload.actions[0] : undefined;
    const requestId = typeof action?.value === 'string' ? action.value : '';
    if (!['ajar_approve', 'ajar_deny'].includes(action?.action_id) || !/^req_[A-Za-z0-9]{1,40}$/.test(requestId)) return refuse(400, 'not an Ajar button');
    if (action.action_id === 'ajar_deny') {
      if (typeof payload.trigger_id !== 'string') return refuse(400, 'a deny needs a trigger_id');
      // Slack's trigger_id works for 3 seconds: a slow lookup must not use them up. If
      // it is still running, open the dialog anyway; the submission settles who denies.
      const who = await within(lookup, LOOKUP_WINDOW_MS);
      if (who === undefined) return unknown(requestId);
      try {
        await slackApi(ctx, 'views.open', { trigger_id: payload.trigger_id, view: denyModal(requestId, { channel: payload.channel?.id, ts: payload.message?.ts }) });
      } catch (e) {
        ctx.log.warn({ problem: (e as Error).message }, 'could not open the deny dialog');
        await tell(ctx, slackUser, `Ajar could not open the deny dialog; deny from the CLI: ajar deny ${requestId} --reason "..."`);
      }
      return { status: 200, body: {} };
    }
    const actor = await lookup;
    if (!actor) return unknown(requestId);
    try {
      const { request } = await reviewRequest(ctx, actor, requestId, 'approve', 'approved in Slack');
      ctx.log.info({ request: requestId, reviewer: actor.name, state: request.state }, 'approved in Slack');
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      await tell(ctx, slackUser, `Ajar did not take your approval of ${requestId}: ${e.message}`);
    }
    return { status: 200, body: {} };
  }

  if (payload.type === 'view_submission' && payload.view?.callback_id === 'ajar_deny') {
    let meta: { requestId?: unknown } = {};
    try {
      meta = JSON.parse(String(payload.view.private_metadata ?? '{}'));
    } catch {
      meta = {};
    }
    const requestId = typeof meta.requestId === 'string' ? meta.requestId : '';
    if (!/^req_[A-Za-z0-9]{1,40}$/.test(requestId)) return refuse(400, 'not an Ajar deny dialog');
    const reason = String(payload.view.state?.values?.reason?.reason?.value ?? '').trim();
    const errors = (text: string) => ({ status: 200 as const, body: { response_action: 'errors', errors: { reason: text } } });
    const actor = await within(lookup, LOOKUP_WINDOW_MS);
    if (actor === 'late') return errors('Ajar is still looking up your Slack account; submit again in a moment.');
    if (!actor) return errors('Ajar does not know your Slack account; ask an Ajar admin to add your email or slack id to your user.');
    if (!reason) return errors('Say why you deny the request.');
    try {
      await reviewRequest(ctx, actor, requestId, 'deny', reason);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      return errors(e.message.slice(0, 300));
    }
    return { status: 200, body: {} };
  }
  return { status: 200, body: {} };
}

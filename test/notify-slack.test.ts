// Slack: requests posted with Approve / Deny buttons, decisions taken from
// signed interaction payloads under every policy rule, messages updated in place.
// Against a local server that speaks the Slack Web API methods Ajar uses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { eventually, notifyConfig } from './support/notify.js';
import { type FakeSlack, interactionBody, slackSignature, startFakeSlack } from './support/slack.js';

const TOKEN = 'xoxb-test-0123456789';
const SIGNING = 'slack-signing-secret-for-tests';
let slack: FakeSlack;
let ajar: Ajar;

beforeAll(async () => {
  slack = await startFakeSlack({
    token: TOKEN,
    users: { 'alice@example.com': 'U0ALICE', 'bob@example.com': 'U0BOB', 'carol@example.com': 'U0CAROL', 'frank@example.com': 'U0FRANK', 'erin@example.com': 'U0ERIN' },
  });
  const config = notifyConfig(
    { slack: { token_env: 'SLACK_BOT_TOKEN', signing_secret_env: 'SLACK_SIGNING_SECRET', api_url: slack.apiUrl, channels: ['#access'] } },
    (_doc, rules) => {
      rules.push({ name: 'two-leads', who: { groups: ['eng'] }, resources: ['git:payments:hotfix/*'], actions: ['push'], default_duration: '1h', max_duration: '1h', approval: { groups: ['leads'], count: 2 } });
    },
  );
  ajar = await startAjar({ config, serverEnv: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING } });
});
afterAll(async () => {
  await ajar?.stop();
  await slack?.close();
});

/** Post an interaction as Slack would: form-encoded payload, signed now (by Ajar's clock) unless told otherwise. */
async function interact(payload: unknown, opts: { secret?: string; at?: number; signature?: string; body?: string } = {}) {
  const body = opts.body ?? interactionBody(payload);
  const ts = opts.at ?? Math.floor(ajar.now().getTime() / 1000);
  const res = await fetch(`${ajar.url}/v1/slack/interactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': opts.signature ?? slackSignature(opts.secret ?? SIGNING, ts, body) },
    body,
  });
  return { status: res.status, body: await res.json().catch(() => null), raw: body, ts };
}
const press = (user: string, action: 'ajar_approve' | 'ajar_deny', requestId: string, extra: Record<string, unknown> = {}) => ({
  type: 'block_actions',
  user: { id: user },
  // Slack stamps every press (action_ts), so two presses are two different signed payloads.
  actions: [{ action_id: action, value: requestId, block_id: 'ajar_review', action_ts: `${Date.now() / 1000}${Math.random().toString().slice(2, 8)}` }],
  ...extra,
});
const messagesAbout = (id: string) => slack.messages.filter((m) => JSON.stringify(m.blocks).includes(id));
const state = async (id: string) => (await ajar.json(['requests', id])).state;
const dmsTo = (user: string) => slack.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === user);

describe('Slack', () => {
  it('a request needing review goes to the channel and to each approver, with who, what, how long, why, rule and buttons', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/3.1', '-a', 'push', '--duration', '90m', '--reason', 'ship the 3.1 fix'], { as: 'alice' });
    const msgs = await eventually('the channel post and both lead DMs', () => messagesAbout(r.id).length === 3 && messagesAbout(r.id));
    expect(msgs.map((m) => m.channel).sort()).toEqual(['CACCESS', 'D0BOB', 'D0FRANK']);
    const text = JSON.stringify(msgs[0]!.blocks);
    for (const part of ['alice', 'push', 'git:payments:release/3.1', '1h30m', 'ship the 3.1 fix', 'release-push', 'ajar_approve', 'ajar_deny']) expect(text).toContain(part);
    // The bot token went in the Authorization header, and approvers were found by email.
    expect(slack.calls.every((c) => c.auth === `Bearer ${TOKEN}`)).toBe(true);
    expect(slack.calls.some((c) => c.method === 'users.lookupByEmail' && c.args.email === 'bob@example.com')).toBe(true);
    // Auto-approved requests need nobody: no message.
    const auto = await ajar.json(['request', '-r', 'git:payments:feature/x', '-a', 'push', '--reason', 'feature'], { as: 'alice' });
    await new Promise((res) => setTimeout(res, 2500));
    expect(messagesAbout(auto.id)).toEqual([]);
  });

  it('Approve from Slack approves as the mapped Ajar user; every message is updated in place and the requester is told', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/3.2', '-a', 'push', '--reason', 'release 3.2'], { as: 'alice' });
    await eventually('the posts', () => messagesAbout(r.id).length === 3);
    const res = await interact(press('U0BOB', 'ajar_approve', r.id));
    expect(res.status).toBe(200);
    expect(await state(r.id)).toBe('approved');
    const shown = await ajar.json(['requests', r.id], { as: 'alice' });
    expect(shown.decidedBy).toBe('bob');
    const review = () => messagesAbout(r.id).filter((m) => m.channel !== 'D0ALICE');
    await eventually('all three messages updated', () => review().length === 3 && review().every((m) => m.updates >= 1 && !JSON.stringify(m.blocks).includes('ajar_approve')));
    for (const m of review()) expect(JSON.stringify(m.blocks)).toContain('Approved by bob');
    await eventually('alice told', () => dmsTo('U0ALICE').some((c) => String(c.args.text).includes('approved') && JSON.stringify(c.args.blocks).includes(r.id)));
  });

  it('N of M is counted right: one approval leaves it pending (message shows 1/2), the second approves', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:hotfix/7', '-a', 'push', '--reason', 'hotfix 7'], { as: 'erin' });
    await eventually('the posts', () => messagesAbout(r.id).length === 3);
    expect((await interact(press('U0BOB', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('pending');
    await eventually('1/2 shown', () => messagesAbout(r.id).every((m) => JSON.stringify(m.blocks).includes('1/2')));
    // The same person pressing again does not count twice.
    expect((await interact(press('U0BOB', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('pending');
    expect((await interact(press('U0FRANK', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('approved');
  });

  it('no self-approval through Slack either, and someone who is not an approver is told so', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/3.3', '-a', 'push', '--reason', 'release 3.3'], { as: 'alice' });
    expect((await interact(press('U0ALICE', 'ajar_approve', r.id))).status).toBe(200);
    expect((await interact(press('U0ERIN', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('pending');
    await eventually('alice told why', () => dmsTo('U0ALICE').some((c) => String(c.args.text).includes('cannot review your own request')));
    // Someone who may not see the request gets the same answer as for one that does not exist.
    await eventually('erin told', () => dmsTo('U0ERIN').some((c) => String(c.args.text).includes(`request ${r.id} not found`)));
  });

  it('Deny opens a modal asking why; an empty reason is refused in the modal; the reason is recorded and shown', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/3.4', '-a', 'push', '--reason', 'release 3.4'], { as: 'alice' });
    await eventually('the posts', () => messagesAbout(r.id).length === 3);
    const trigger = slack.issueTriggerId();
    expect((await interact(press('U0BOB', 'ajar_deny', r.id, { trigger_id: trigger, channel: { id: 'CACCESS' } }))).status).toBe(200);
    const view = await eventually('views.open', () => slack.views.find((v) => v.trigger_id === trigger));
    expect(view.view.callback_id).toBe('ajar_deny');
    expect(await state(r.id)).toBe('pending');
    const submit = (reason: string) => ({ type: 'view_submission', user: { id: 'U0BOB' }, view: { callback_id: 'ajar_deny', private_metadata: view.view.private_metadata, state: { values: { reason: { reason: { type: 'plain_text_input', value: reason } } } } } });
    const empty = await interact(submit('  '));
    expect(empty.body).toEqual({ response_action: 'errors', errors: { reason: 'Say why you deny the request.' } });
    expect(await state(r.id)).toBe('pending');
    const ok = await interact(submit('not during the freeze'));
    expect(ok.status).toBe(200);
    const shown = await ajar.json(['requests', r.id], { as: 'alice' });
    expect(shown).toMatchObject({ state: 'denied', decidedBy: 'bob', decisionReason: 'not during the freeze' });
    await eventually('messages show the denial', () => messagesAbout(r.id).every((m) => JSON.stringify(m.blocks).includes('not during the freeze')));
  });

  it('refuses wrongly signed, stale, replayed and unsigned payloads, and a Slack user Ajar does not know', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/3.5', '-a', 'push', '--reason', 'release 3.5'], { as: 'alice' });
    const p = press('U0BOB', 'ajar_approve', r.id);
    expect((await interact(p, { secret: 'not-the-secret' })).status).toBe(401);
    const stale = await interact(p, { at: Math.floor(ajar.now().getTime() / 1000) - 301 });
    expect(stale.status).toBe(401);
    expect(stale.body.error.message).toContain('5 minutes');
    expect((await interact(p, { signature: 'v0=' })).status).toBe(401);
    const noSig = await fetch(`${ajar.url}/v1/slack/interactions`, { method: 'POST', body: interactionBody(p) });
    expect(noSig.status).toBe(401);
    // A body changed after signing.
    const good = interactionBody(p);
    const ts = Math.floor(ajar.now().getTime() / 1000);
    const tampered = await interact(null, { body: good.replace('U0BOB', 'U0FRA'), signature: slackSignature(SIGNING, ts, good), at: ts });
    expect(tampered.status).toBe(401);
    expect(await state(r.id)).toBe('pending');
    // An unknown Slack user: nothing decided.
    expect((await interact(press('U0NOBODY', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('pending');
    // Malformed payloads.
    expect((await interact(null, { body: 'payload=%7Bnot-json' })).status).toBe(400);
    // A correct one works once; the very same signed request again is a replay.
    const first = await interact(p);
    expect(first.status).toBe(200);
    expect(await state(r.id)).toBe('approved');
    const again = await fetch(`${ajar.url}/v1/slack/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(first.ts), 'x-slack-signature': slackSignature(SIGNING, first.ts, first.raw) },
      body: first.raw,
    });
    expect(again.status).toBe(401);
    expect(((await again.json()) as any).error.message).toContain('replay');
  });

  it('Slack errors and timeouts are retried or dead-lettered, shown by `ajar outbox`, and neither token nor secret reaches the log', { timeout: 90_000 }, async () => {
    // What earlier tests left in flight (a requester told of an approval) must not take the failures meant for this request.
    await eventually('nothing left to send', async () => !(await ajar.json(['outbox'])).deliveries.some((d: any) => d.channel === 'slack' && (d.state === 'pending' || d.state === 'sending')));
    slack.failNext('chat.postMessage', 500, 3);
    const r = await ajar.json(['request', '-r', 'git:payments:release/3.6', '-a', 'push', '--reason', 'release 3.6'], { as: 'alice' });
    const waiting = await eventually('failed deliveries listed', async () => {
      const o = await ajar.json(['outbox']);
      // All three (channel, two DMs) recorded as failed before the clock moves: the backoff counts from then.
      const mine = o.deliveries.filter((d: any) => d.channel === 'slack' && d.event === 'request.created' && d.lastError?.includes('HTTP 500') && d.state === 'pending');
      return mine.length === 3 && mine;
    });
    expect(waiting[0]).toMatchObject({ state: 'pending', event: 'request.created' });
    ajar.advance(60);
    await eventually('delivered after the backoff', () => messagesAbout(r.id).length === 3);
    // A permanent error (a channel that does not exist) is a dead letter at once.
    slack.failNext('chat.postMessage', 'channel_not_found', 1);
    const r2 = await ajar.json(['request', '-r', 'git:payments:release/3.7', '-a', 'push', '--reason', 'release 3.7'], { as: 'alice' });
    const dead = await eventually('a dead letter', async () => (await ajar.json(['outbox', '--state', 'dead'])).deliveries.find((d: any) => d.lastError?.includes('channel_not_found')));
    expect(dead.attempts).toBe(1);
    const table = await ajar.cli(['outbox', '--state', 'dead']);
    expect(table.stdout).toContain('channel_not_found');
    const retried = await ajar.json(['outbox', 'retry', dead.id]);
    expect(retried.state).toBe('pending');
    await eventually('the retried one delivered', () => messagesAbout(r2.id).length === 3);
    // A Slack that does not answer: timed out and retried, not lost.
    slack.failNext('chat.postMessage', 'hang', 1);
    const r3 = await ajar.json(['request', '-r', 'git:payments:release/3.8', '-a', 'push', '--reason', 'release 3.8'], { as: 'alice' });
    const slow = await eventually('a timed-out attempt', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.lastError === 'slack chat.postMessage: no answer within 10s'), 30_000);
    expect(slow.state).toBe('pending');
    ajar.advance(60);
    await eventually('delivered after the timeout', () => messagesAbout(r3.id).length === 3, 30_000);
    expect(ajar.serverLog()).not.toContain(TOKEN);
    expect(ajar.serverLog()).not.toContain(SIGNING);
  });
});

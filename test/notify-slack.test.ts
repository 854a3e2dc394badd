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
/** Ajar processes of later describe blocks, for the final check of their logs */
const others: Ajar[] = [];

/** Slack members both setups have: the requesters and the leads. */
const PEOPLE = { 'alice@example.com': 'U0ALICE', 'bob@example.com': 'U0BOB', 'frank@example.com': 'U0FRANK', 'erin@example.com': 'U0ERIN' };

/** Rules both Slack setups share: two leads, and a release that reminds after 5m and escalates to security after 6m. */
function slackRules(rules: any[]) {
  rules.push({ name: 'two-leads', who: { groups: ['eng'] }, resources: ['git:payments:hotfix/*'], actions: ['push'], default_duration: '1h', max_duration: '1h', approval: { groups: ['leads'], count: 2 } });
  rules.push({ name: 'slow-release', who: { groups: ['eng'] }, resources: ['git:payments:slow/*'], actions: ['push'], default_duration: '1h', max_duration: '1h', approval: { groups: ['leads'], remind_every: '5m', escalate: { after: '6m', groups: ['security'] } } });
}

beforeAll(async () => {
  slack = await startFakeSlack({
    token: TOKEN,
    users: {
      ...PEOPLE,
      'carol@example.com': 'U0CAROL',
      // Someone who typed gina's address into their Slack profile without confirming it.
      'gina@example.com': { id: 'U0GINA', confirmed: false },
      // In the workspace, but no one Ajar knows.
      'zed@example.com': 'U0ZED',
    },
  });
  const config = notifyConfig({ slack: { token_env: 'SLACK_BOT_TOKEN', signing_secret_env: 'SLACK_SIGNING_SECRET', api_url: slack.apiUrl, channels: ['#access'] } }, (doc, rules) => {
    doc.setIn(['users', 'gina'], doc.createNode({ groups: ['qa'], email: 'gina@example.com' }));
    slackRules(rules);
    // dave is not in Slack at all; gina's Slack account has an unconfirmed email.
    rules.push({ name: 'ops', who: { groups: ['eng'] }, resources: ['git:payments:ops/*'], actions: ['push'], default_duration: '1h', max_duration: '1h', approval: { users: ['dave', 'gina'] } });
  });
  ajar = await startAjar({ config, serverEnv: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING } });
});
afterAll(async () => {
  await ajar?.stop();
  await slack?.close();
});

/** Post an interaction as Slack would: form-encoded payload, signed now (by Ajar's clock) unless told otherwise. */
async function interact(payload: unknown, opts: { secret?: string; at?: number; signature?: string; body?: string; to?: Ajar } = {}) {
  const to = opts.to ?? ajar;
  const body = opts.body ?? interactionBody(payload);
  const ts = opts.at ?? Math.floor(to.now().getTime() / 1000);
  const res = await fetch(`${to.url}/v1/slack/interactions`, {
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
const messagesAbout = (id: string, on = slack) => on.messages.filter((m) => JSON.stringify(m.blocks).includes(id));
const state = async (id: string, on = ajar) => (await on.json(['requests', id])).state;
const dmsTo = (user: string, on = slack) => on.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === user);
const hasButtons = (m: { blocks: unknown[] }) => JSON.stringify(m.blocks).includes('ajar_approve');
/** Wait until no Slack delivery is waiting or in flight, so failures a test sets up hit its own calls. */
const quiet = (on = ajar) => eventually('nothing left to send', async () => !(await on.json(['outbox'])).deliveries.some((d: any) => d.channel === 'slack' && (d.state === 'pending' || d.state === 'sending')));

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
    // Slack reads the arguments of its read methods only form-encoded (the fake, like Slack, ignores JSON there).
    expect(slack.calls.filter((c) => c.method.startsWith('users.')).every((c) => c.contentType === 'application/x-www-form-urlencoded')).toBe(true);
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
    const review = () => messagesAbout(r.id).filter((m) => m.channel !== 'D0ERIN');
    await eventually('approved shown', () => review().every((m) => JSON.stringify(m.blocks).includes('Approved by frank')));
    await quiet();
    // One chat.update per message for each approval: none for the approval that the final decision covers.
    expect(review().map((m) => m.updates)).toEqual([2, 2, 2]);
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
    // Slack users Ajar does not know: nothing decided, and one in the workspace is told why.
    expect((await interact(press('U0NOBODY', 'ajar_approve', r.id))).status).toBe(200);
    expect((await interact(press('U0ZED', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('pending');
    await eventually('zed told', () => dmsTo('U0ZED').some((c) => String(c.args.text).includes(`Ajar does not know your Slack account, so it cannot take your decision on ${r.id}`)));
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
    slack.failNext('chat.postMessage', 500, 3, 'release/3.6');
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
    slack.failNext('chat.postMessage', 'channel_not_found', 1, 'release/3.7');
    const r2 = await ajar.json(['request', '-r', 'git:payments:release/3.7', '-a', 'push', '--reason', 'release 3.7'], { as: 'alice' });
    const dead = await eventually('a dead letter', async () => (await ajar.json(['outbox', '--state', 'dead'])).deliveries.find((d: any) => d.lastError?.includes('channel_not_found')));
    expect(dead.attempts).toBe(1);
    const table = await ajar.cli(['outbox', '--state', 'dead']);
    expect(table.stdout).toContain('channel_not_found');
    const retried = await ajar.json(['outbox', 'retry', dead.id]);
    expect(retried.state).toBe('pending');
    await eventually('the retried one delivered', () => messagesAbout(r2.id).length === 3);
    // A Slack that does not answer: timed out and retried, not lost.
    slack.failNext('chat.postMessage', 'hang', 1, 'release/3.8');
    const r3 = await ajar.json(['request', '-r', 'git:payments:release/3.8', '-a', 'push', '--reason', 'release 3.8'], { as: 'alice' });
    const slow = await eventually('a timed-out attempt', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.lastError === 'slack chat.postMessage: no answer within 10s'), 30_000);
    expect(slow.state).toBe('pending');
    ajar.advance(60);
    await eventually('delivered after the timeout', () => messagesAbout(r3.id).length === 3, 30_000);
    // Rate limited: retried after Slack's Retry-After (longer than the backoff), not dead.
    await quiet();
    slack.failNext('chat.postMessage', { status: 429, retryAfter: '120' }, 3, 'release/3.9');
    const r4 = await ajar.json(['request', '-r', 'git:payments:release/3.9', '-a', 'push', '--reason', 'release 3.9'], { as: 'alice' });
    const limited = await eventually('rate-limited deliveries', async () => {
      const mine = (await ajar.json(['outbox'])).deliveries.filter((d: any) => d.channel === 'slack' && d.lastError === 'slack chat.postMessage: HTTP 429' && d.state === 'pending');
      return mine.length === 3 && mine;
    });
    for (const d of limited) expect(Date.parse(d.nextAttemptAt) - ajar.now().getTime()).toBe(120_000);
    ajar.advance(120);
    await eventually('delivered after Retry-After', () => messagesAbout(r4.id).length === 3);
  });

  it('an approver Slack does not know, or whose Slack email is not confirmed, is a dead letter at once, and never gets the DM', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:ops/1', '-a', 'push', '--reason', 'ops work'], { as: 'alice' });
    const dead = await eventually('both DMs dead', async () => {
      const list = (await ajar.json(['outbox', '--state', 'dead'])).deliveries.filter((d: any) => d.event === 'request.created' && ['user:dave', 'user:gina'].includes(d.target));
      return list.length === 2 && list;
    });
    const to = (who: string) => dead.find((d: any) => d.target === `user:${who}`);
    expect(to('dave')).toMatchObject({ attempts: 1, lastError: 'slack users.lookupByEmail: users_not_found' });
    expect(to('gina')).toMatchObject({ attempts: 1, lastError: "slack: the Slack account with gina's email is a bot, deleted, or its email is not confirmed; not messaging it" });
    expect(dmsTo('U0GINA')).toEqual([]);
    // Nor does that account's press count as gina's.
    expect((await interact(press('U0GINA', 'ajar_approve', r.id))).status).toBe(200);
    expect(await state(r.id)).toBe('pending');
    await eventually('told it is not known', () => dmsTo('U0GINA').some((c) => String(c.args.text).includes('does not know your Slack account')));
  });

  it('reminder and escalation DMs are updated in place too: once decided, no message about the request keeps live buttons', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:slow/1', '-a', 'push', '--reason', 'slow one'], { as: 'erin' });
    await eventually('the first posts', () => messagesAbout(r.id).length === 3);
    // Moving the clock past a send's lease would send it again (at least once): let them finish first.
    await quiet();
    ajar.advance(5 * 60);
    await eventually('the reminder DMs', () => messagesAbout(r.id).length === 5);
    await quiet();
    ajar.advance(60);
    await eventually('the escalation DM to security', () => messagesAbout(r.id).some((m) => m.channel === 'D0CAROL'));
    expect(messagesAbout(r.id).filter((m) => m.channel === 'D0BOB')).toHaveLength(2);
    expect(messagesAbout(r.id).filter(hasButtons)).toHaveLength(6);
    expect((await interact(press('U0BOB', 'ajar_approve', r.id))).status).toBe(200);
    const about = () => messagesAbout(r.id).filter((m) => m.channel !== 'D0ERIN');
    await eventually('every message updated', () => about().every((m) => !hasButtons(m) && JSON.stringify(m.blocks).includes('Approved by bob')));
    expect(about()).toHaveLength(6);
    // Each keeps what it said it was.
    expect(about().filter((m) => JSON.stringify(m.blocks).includes('Reminder: still waiting'))).toHaveLength(2);
    expect(about().filter((m) => JSON.stringify(m.blocks).includes('Escalated to you'))).toHaveLength(1);
  });

  it('a decision taken while the posts are on their way still reaches every message: no stale buttons', async () => {
    await quiet();
    await ajar.token('bob'); // ready beforehand: the approval must land while the posts are on their way
    slack.delayNext('chat.postMessage', 4000, 3);
    const r = await ajar.json(['request', '-r', 'git:payments:release/4.1', '-a', 'push', '--reason', 'release 4.1'], { as: 'alice' });
    await eventually('the three posts sent, not answered yet', () => slack.calls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args.blocks ?? '').includes(r.id)).length === 3);
    expect((await ajar.api('POST', `/v1/requests/${r.id}/approve`, { as: 'bob', body: {} })).status).toBe(200);
    expect(messagesAbout(r.id).filter(hasButtons)).toEqual([]); // still on their way
    const about = () => messagesAbout(r.id).filter((m) => m.channel !== 'D0ALICE');
    await eventually('all three show the decision', () => about().length === 3 && about().every((m) => !hasButtons(m) && JSON.stringify(m.blocks).includes('Approved by bob')));
  });
});

describe('Slack without direct messages', () => {
  let slackB: FakeSlack;
  let ajarB: Ajar;
  beforeAll(async () => {
    slackB = await startFakeSlack({
      token: TOKEN,
      users: {
        ...PEOPLE,
        'gina@example.com': { id: 'U0GINA', confirmed: false },
        'hal@example.com': { id: 'U0HAL', deleted: true },
        'ivy@example.com': { id: 'U0IVY', bot: true },
      },
    });
    const config = notifyConfig({ slack: { token_env: 'SLACK_BOT_TOKEN', signing_secret_env: 'SLACK_SIGNING_SECRET', api_url: slackB.apiUrl, channels: ['#access'], direct_messages: false } }, (doc, rules) => {
      for (const who of ['gina', 'hal', 'ivy']) doc.setIn(['users', who], doc.createNode({ groups: ['leads'], email: `${who}@example.com` }));
      slackRules(rules);
    });
    ajarB = await startAjar({ config, serverEnv: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING } });
    others.push(ajarB);
  });
  afterAll(async () => {
    await ajarB?.stop();
    await slackB?.close();
  });
  const on = () => ({ to: ajarB });

  it('a press by someone Ajar never messaged is mapped through users.info, form-encoded, to the one user with that confirmed email', async () => {
    const r = await ajarB.json(['request', '-r', 'git:payments:release/5', '-a', 'push', '--reason', 'release five'], { as: 'alice' });
    await eventually('the channel post', () => messagesAbout(r.id, slackB).length === 1);
    expect(slackB.calls.filter((c) => c.method.startsWith('users.'))).toEqual([]);
    expect((await interact(press('U0BOB', 'ajar_approve', r.id), on())).status).toBe(200);
    expect(await ajarB.json(['requests', r.id])).toMatchObject({ state: 'approved', decidedBy: 'bob' });
    const info = slackB.calls.filter((c) => c.method === 'users.info');
    expect(info.map((c) => [c.args.user, c.contentType])).toEqual([['U0BOB', 'application/x-www-form-urlencoded']]);
  });

  it('a Slack account whose email is not confirmed, that was deleted, or that is a bot is not taken for the Ajar user with that email', async () => {
    const r = await ajarB.json(['request', '-r', 'git:payments:release/6', '-a', 'push', '--reason', 'release six'], { as: 'alice' });
    for (const u of ['U0GINA', 'U0HAL', 'U0IVY']) expect((await interact(press(u, 'ajar_approve', r.id), on())).status).toBe(200);
    expect(await state(r.id, ajarB)).toBe('pending');
    expect(slackB.calls.filter((c) => c.method === 'users.info').map((c) => c.args.user)).toEqual(expect.arrayContaining(['U0GINA', 'U0HAL', 'U0IVY']));
    await eventually('gina and ivy told', () => ['U0GINA', 'U0IVY'].every((u) => dmsTo(u, slackB).some((c) => String(c.args.text).includes('does not know your Slack account'))));
  });

  it("Deny opens its dialog within Slack's 3 seconds even when users.info does not answer; the submission settles who denies", async () => {
    const r = await ajarB.json(['request', '-r', 'git:payments:release/7', '-a', 'push', '--reason', 'release seven'], { as: 'alice' });
    slackB.failNext('users.info', 'hang', 1);
    const trigger = slackB.issueTriggerId();
    const started = Date.now();
    expect((await interact(press('U0FRANK', 'ajar_deny', r.id, { trigger_id: trigger }), on())).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    // The fake, like Slack, refuses a trigger_id older than 3 s (expired_trigger_id).
    const view = await eventually('views.open', () => slackB.views.find((v) => v.trigger_id === trigger));
    const submit = { type: 'view_submission', user: { id: 'U0FRANK' }, view: { callback_id: 'ajar_deny', private_metadata: view.view.private_metadata, state: { values: { reason: { reason: { type: 'plain_text_input', value: 'not now' } } } } } };
    expect((await interact(submit, on())).status).toBe(200);
    expect(await ajarB.json(['requests', r.id])).toMatchObject({ state: 'denied', decidedBy: 'frank', decisionReason: 'not now' });
  });

  it('channel notes (reminder, escalation) are updated in place with the first post when the request is decided', async () => {
    const r = await ajarB.json(['request', '-r', 'git:payments:slow/2', '-a', 'push', '--reason', 'slow two'], { as: 'erin' });
    await eventually('the channel post', () => messagesAbout(r.id, slackB).length === 1);
    await quiet(ajarB);
    ajarB.advance(5 * 60);
    await eventually('the reminder note in the channel', () => messagesAbout(r.id, slackB).length === 2);
    await quiet(ajarB);
    ajarB.advance(60);
    await eventually('the escalation note in the channel', () => messagesAbout(r.id, slackB).length === 3);
    expect(messagesAbout(r.id, slackB).every((m) => m.channel === 'CACCESS' && hasButtons(m))).toBe(true);
    expect((await interact(press('U0BOB', 'ajar_approve', r.id), on())).status).toBe(200);
    await eventually('all three updated', () => messagesAbout(r.id, slackB).every((m) => !hasButtons(m) && JSON.stringify(m.blocks).includes('Approved by bob')));
  });
});

describe('secrets', () => {
  it('after every failure above, neither the bot token nor the signing secret is in a log line or a stored error', async () => {
    for (const a of [ajar, ...others]) {
      const stored = JSON.stringify(await a.json(['outbox', '--state', 'all', '--limit', '1000']));
      for (const secret of [TOKEN, SIGNING]) {
        expect(a.serverLog()).not.toContain(secret);
        expect(stored).not.toContain(secret);
      }
    }
  });
});

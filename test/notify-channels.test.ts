// Webhooks (Standard Webhooks, verified with the reference library), email
// through SMTP, Jira tickets, reminders and escalation from the policy, and the
// outbox keeping what it must deliver across receiver outages and Ajar restarts.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, isPostgres, startAjar } from './support/ajar.js';
import { type FakeJira, startFakeJira } from './support/jira.js';
import { eventually, notifyConfig } from './support/notify.js';
import { type FakeSmtp, startFakeSmtp } from './support/smtp.js';
import { type Received, Receiver } from './support/webhook-receiver.js';

const SECRET_ALL = `whsec_${randomBytes(32).toString('base64')}`;
const SECRET_REVOKED = `whsec_${randomBytes(32).toString('base64')}`;
const JIRA_TOKEN = 'jira-pat-0123456789';

/** Answered first, in order, to any event; then `failing`'s status (and headers) to the events it picks, `times` times. */
let answers: number[] = [];
let failing: { match: (json: any) => boolean; status: number; times: number; headers?: Record<string, string> } | undefined;
const hook = new Receiver();
hook.answer = (_endpoint, json) => {
  const queued = answers.shift();
  if (failing && failing.times > 0 && failing.match(json)) {
    failing.times -= 1;
    return { status: failing.status, headers: failing.headers ?? {} };
  }
  return queued ?? 200;
};
let smtp: FakeSmtp;
let jira: FakeJira;
let ajar: Ajar;
let config: string;
let serverEnv: Record<string, string>;

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  await hook.start();
  const nobody = await closedPort();
  smtp = await startFakeSmtp();
  jira = await startFakeJira({ token: JIRA_TOKEN, issues: { 'PAY-1': 'In Progress', 'PAY-2': 'Done', 'PAY-3': 'In Progress' } });
  config = notifyConfig(
    {
      webhooks: {
        all: { url: `${hook.url}/all`, secret_env: 'HOOK_ALL_SECRET' },
        revocations: { url_env: 'HOOK_REVOKED_URL', secret_env: 'HOOK_REVOKED_SECRET', events: ['grant.revoked'] },
        // Nothing listens there: every attempt fails to connect.
        unreachable: { url: `http://127.0.0.1:${nobody}/ajar`, secret_env: 'HOOK_ALL_SECRET', events: ['breakglass.used'] },
      },
      email: { url_env: 'SMTP_URL', from: 'Ajar <ajar@example.com>' },
      jira: { url: jira.url, token_env: 'JIRA_TOKEN', statuses: ['In Progress', 'Selected for Development'] },
    },
    (doc, rules) => {
      const release = rules.find((r) => r.name === 'release-push');
      release.approval = { groups: ['leads'], count: 1, remind_every: '1h', escalate: { after: '2h', groups: ['security'] } };
      rules.push({ name: 'payments-hotfix', who: { groups: ['eng'] }, resources: ['git:payments:hotfix/*'], actions: ['push'], default_duration: '1h', max_duration: '1h', ticket: { required: true, pattern: '^PAY-[0-9]+$' }, approval: { groups: ['leads'] } });
      // The sweep (reminders, escalation) runs at start only: each restart is one sweep.
      doc.set('workers', { sweep_interval: '1d' });
    },
  );
  serverEnv = { HOOK_ALL_SECRET: SECRET_ALL, HOOK_REVOKED_SECRET: SECRET_REVOKED, HOOK_REVOKED_URL: `${hook.url}/revoked?key=url-secret-123`, SMTP_URL: smtp.url, JIRA_TOKEN };
  ajar = await startAjar({ config, serverEnv });
});
afterAll(async () => {
  await ajar?.stop();
  hook.close();
  await smtp?.close();
  await jira?.close();
});

const verify = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as any;
const mailsTo = (to: string) => smtp.mails.filter((m) => m.to.includes(to));
const eventsFor = (id: string) => hook.ok('/all').filter((g) => g.json.data.request_id === id).map((g) => g.json.type);
/** Moving the clock past the lease of a send in flight sends it again (at least once): wait until none is in flight. */
const settled = () => eventually('nothing in flight', async () => !(await ajar.json(['outbox'])).deliveries.some((d: any) => d.state === 'sending'));

describe('webhooks', () => {
  it('signed events in the Standard Webhooks format, verified by the reference library; per-endpoint filters', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/1', '-a', 'push', '--reason', 'release one'], { as: 'alice' });
    await ajar.json(['approve', r.id], { as: 'bob' });
    const approved = await ajar.json(['requests', r.id]);
    await ajar.json(['revoke', approved.grantId, '--reason', 'done early']);
    await eventually('four events', () => eventsFor(r.id).length >= 4);
    expect(eventsFor(r.id).sort()).toEqual(['grant.activated', 'grant.revoked', 'request.approved', 'request.created']);
    for (const g of hook.ok('/all').filter((x) => x.json.data.request_id === r.id)) {
      const payload = verify(SECRET_ALL, g);
      expect(payload.type).toBe(g.json.type);
      expect(g.headers['webhook-id']).toMatch(/^dlv_/);
      expect(() => verify(SECRET_REVOKED, g)).toThrow();
    }
    const created = hook.ok('/all').find((g) => g.json.data.request_id === r.id && g.json.type === 'request.created')!;
    expect(created.json.data).toMatchObject({ subject: 'alice', resources: ['git:payments:release/1'], actions: ['push'], reason: 'release one', request: { requester: 'alice', rules: ['release-push'] } });
    const revoked = await eventually('the filtered endpoint', () => hook.ok('/revoked?key=url-secret-123').find((g) => g.json.data.request_id === r.id));
    expect(verify(SECRET_REVOKED, revoked).type).toBe('grant.revoked');

    // A denial, and a grant that runs out (the sweep, which runs at start here, ends it).
    const denied = await ajar.json(['request', '-r', 'git:payments:release/1b', '-a', 'push', '--reason', 'release one b'], { as: 'alice' });
    await ajar.json(['deny', denied.id, '--reason', 'not this week'], { as: 'bob' });
    const short = await ajar.json(['request', '-r', 'git:payments:feature/short', '-a', 'push', '--duration', '1h', '--reason', 'short'], { as: 'alice' });
    await eventually('the denial and the activation', () => eventsFor(denied.id).includes('request.denied') && eventsFor(short.id).includes('grant.activated'));
    await ajar.stop();
    ajar.advance(3600);
    await ajar.start();
    await eventually('grant.expired', () => eventsFor(short.id).includes('grant.expired'));
    const one = (id: string, type: string) => hook.ok('/all').find((g) => g.json.data.request_id === id && g.json.type === type)!;
    expect(verify(SECRET_ALL, one(denied.id, 'request.denied')).data).toMatchObject({ actor: 'bob', subject: 'alice', reason: 'not this week' });
    expect(verify(SECRET_ALL, one(short.id, 'grant.expired')).data).toMatchObject({ subject: 'alice', grant_id: (await ajar.json(['requests', short.id])).grantId });
    // The endpoint subscribed to grant.revoked alone got neither.
    expect(hook.ok('/revoked?key=url-secret-123').map((g) => g.json.type)).toEqual(['grant.revoked']);
    expect(hook.got.filter((g) => g.endpoint.startsWith('/revoked')).length).toBe(1);
  });

  it('5xx is retried with backoff under the same webhook-id; 4xx is a dead letter; the URL and secrets never reach the log', async () => {
    failing = { match: (j) => j.type === 'request.created' && j.data.reason === 'retry me', status: 503, times: 2 };
    const r = await ajar.json(['request', '-r', 'git:payments:feature/retry', '-a', 'push', '--reason', 'retry me'], { as: 'alice' });
    const failed = await eventually('a failed attempt', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.channel === 'webhook:all' && d.lastError === 'webhook all: HTTP 503'));
    expect(failed.attempts).toBe(1);
    ajar.advance(10);
    // Wait until Ajar has recorded the second failure (not only until the receiver saw it): the backoff counts from then.
    await eventually('a second failed attempt, recorded', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.id === failed.id && d.attempts === 2 && d.state === 'pending'));
    ajar.advance(20);
    await eventually('delivered', () => eventsFor(r.id).includes('request.created'));
    const ids = hook.got.filter((g) => g.endpoint === '/all' && g.json.data.request_id === r.id && g.json.type === 'request.created').map((g) => g.headers['webhook-id']);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);

    failing = { match: (j) => j.type === 'request.created' && j.data.reason === 'dead letter', status: 400, times: 1 };
    await ajar.json(['request', '-r', 'git:payments:feature/dead', '-a', 'push', '--reason', 'dead letter'], { as: 'alice' });
    const dead = await eventually('a dead letter', async () => (await ajar.json(['outbox', '--state', 'dead'])).deliveries.find((d: any) => d.lastError === 'webhook all: HTTP 400'));
    expect(dead.attempts).toBe(1);
    expect(ajar.serverLog()).toContain('notification given up');
  });

  it('429 is retried after Retry-After, in seconds or as an HTTP date, at most an hour later; never a dead letter', async () => {
    const limited = async (reason: string, retryAfter: string) => {
      failing = { match: (j) => j.type === 'request.created' && j.data.reason === reason, status: 429, times: 1, headers: { 'retry-after': retryAfter } };
      await ajar.json(['request', '-r', `git:payments:feature/${reason.replace(/ /g, '-')}`, '-a', 'push', '--reason', reason], { as: 'alice' });
      const id = await eventually('the 429', () => hook.got.find((g) => g.status === 429 && g.json.data.reason === reason)?.headers['webhook-id']);
      return eventually('the 429, recorded', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.id === id && d.lastError === 'webhook all: HTTP 429' && d.state === 'pending'));
    };
    const later = (d: any) => (Date.parse(d.nextAttemptAt) - ajar.now().getTime()) / 1000;
    // An HTTP date 90 s from now (the receiver's wall clock): up to 90 s after the attempt
    // (less the seconds the request took to file), far more than the first backoff (10 s).
    const dated = await limited('dated', new Date(Date.now() + 90_000).toUTCString());
    expect(later(dated)).toBeGreaterThanOrEqual(60);
    expect(later(dated)).toBeLessThanOrEqual(91);
    // A receiver asking for years gets an hour.
    const capped = await limited('years', '999999999');
    expect(later(capped)).toBe(3600);
    await settled();
    ajar.advance(3600);
    await eventually('both delivered', async () => {
      const all = (await ajar.json(['outbox', '--state', 'all', '--limit', '1000'])).deliveries;
      return [dated.id, capped.id].every((id) => all.some((d: any) => d.id === id && d.state === 'delivered' && d.attempts === 2));
    });
  });

  it('nothing is lost while the receiver is down and Ajar restarts: delivered once when both are back', async () => {
    answers.push(...Array(20).fill(503));
    const r = await ajar.json(['request', '-r', 'git:payments:feature/outage', '-a', 'push', '--reason', 'outage'], { as: 'alice' });
    await eventually('a failed attempt', () => hook.got.some((g) => g.status === 503 && g.json.data.request_id === r.id));
    await ajar.stop();
    answers = [];
    ajar.advance(3600);
    await ajar.start();
    await eventually('delivered after the restart', () => eventsFor(r.id).includes('grant.activated') && eventsFor(r.id).includes('request.created'));
    expect(eventsFor(r.id).filter((t) => t === 'request.created')).toHaveLength(1);
  });

  if (isPostgres()) it('two Ajar processes on one database deliver each event once', async () => {
    const second = await startAjar({ config, serverEnv, shareDatabaseOf: ajar });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await ajar.json(['request', '-r', `git:payments:feature/two-${i}`, '-a', 'push', '--reason', 'two'], { as: i % 2 ? 'alice' : 'erin' })).id);
      await eventually('all delivered', () => ids.every((id) => eventsFor(id).length === 3));
      await new Promise((res) => setTimeout(res, 2500));
      for (const id of ids) expect(eventsFor(id).sort()).toEqual(['grant.activated', 'request.approved', 'request.created']);
    } finally {
      await second.stop();
    }
  });
});

describe('email', () => {
  it('approvers get the request, the requester the decision; a 4xx from SMTP is retried, a 5xx is a dead letter', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/2', '-a', 'push', '--reason', 'release two'], { as: 'alice' });
    await eventually('both leads mailed', () => mailsTo('bob@example.com').some((m) => m.subject.includes(r.id)) && mailsTo('frank@example.com').some((m) => m.subject.includes(r.id)));
    const m = mailsTo('bob@example.com').find((x) => x.subject.includes(r.id))!;
    expect(m.from).toBe('ajar@example.com');
    for (const part of ['alice requests push on git:payments:release/2', 'release two', `ajar approve ${r.id}`]) expect(m.text).toContain(part);
    expect(mailsTo('alice@example.com').some((x) => x.subject.includes(r.id))).toBe(false);

    smtp.failNext(451, 1);
    await ajar.json(['approve', r.id], { as: 'bob' });
    await eventually('a deferred email', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.channel === 'email' && d.lastError?.includes('451')));
    ajar.advance(10);
    const told = await eventually('alice told after the retry', () => mailsTo('alice@example.com').find((x) => x.subject.includes(r.id)));
    expect(told.subject).toContain('approved');

    smtp.failNext(550, 2);
    const r2 = await ajar.json(['request', '-r', 'git:payments:release/22', '-a', 'push', '--reason', 'bounced'], { as: 'erin' });
    const dead = await eventually('dead letters', async () => {
      const list = (await ajar.json(['outbox', '--state', 'dead'])).deliveries.filter((d: any) => d.channel === 'email' && d.lastError?.includes('550'));
      return list.length === 2 && list;
    });
    expect(dead.map((d: any) => d.target).sort()).toEqual(['bob@example.com', 'frank@example.com']);
    expect(dead.every((d: any) => d.attempts === 1)).toBe(true);
    expect(r2.state).toBe('pending');
  });
});

describe('Jira', () => {
  const hotfix = (ticket: string, branch: string) => ajar.cli(['request', '-r', `git:payments:hotfix/${branch}`, '-a', 'push', '--reason', 'hotfix', '--ticket', ticket, '--json'], { as: 'alice' });

  it('a required ticket must exist and be in an allowed status; if Jira cannot answer the request is refused', async () => {
    const before = (await ajar.json(['requests', '--user', 'alice'])).length;
    const missing = await hotfix('PAY-404', 'a');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('PAY-404 does not exist in Jira');
    const done = await hotfix('PAY-2', 'b');
    expect(done.code).toBe(2);
    expect(done.stderr).toContain('PAY-2 is "Done" in Jira; it must be "In Progress" or "Selected for Development"');
    jira.failNext(502, 1);
    const down = await hotfix('PAY-1', 'c');
    expect(down.code).toBe(2);
    expect(down.stderr).toContain('cannot check ticket PAY-1 in Jira (HTTP 502)');
    expect((await ajar.json(['requests', '--user', 'alice'])).length).toBe(before);
    expect(jira.requests.every((q) => q.auth === `Bearer ${JIRA_TOKEN}`)).toBe(true);
  });

  it('the ticket gets a comment when access is granted and when it ends', async () => {
    const r = JSON.parse((await hotfix('PAY-3', 'd')).stdout);
    await ajar.json(['approve', r.id], { as: 'bob' });
    await eventually('granted comment', () => jira.issues.get('PAY-3')!.comments.some((c) => c.body.includes('access granted to alice')));
    const g = (await ajar.json(['requests', r.id])).grantId;
    await ajar.json(['release', g], { as: 'alice' });
    const ended = await eventually('ended comment', () => jira.issues.get('PAY-3')!.comments.find((c) => c.body.includes('has ended')));
    expect(ended.body).toContain(g);
    expect(jira.issues.get('PAY-3')!.comments).toHaveLength(2);
  });

  it('a scheduled grant comments, and sends grant.activated, when it starts', async () => {
    const start = new Date(ajar.now().getTime() + 3600_000).toISOString();
    const r = await ajar.json(['request', '-r', 'git:payments:hotfix/later', '-a', 'push', '--reason', 'tonight', '--ticket', 'PAY-1', '--start', start], { as: 'alice' });
    await ajar.json(['approve', r.id], { as: 'bob' });
    await new Promise((res) => setTimeout(res, 2500));
    expect(jira.issues.get('PAY-1')!.comments).toEqual([]);
    expect(eventsFor(r.id)).not.toContain('grant.activated');
    await ajar.stop();
    ajar.advance(3600);
    await ajar.start();
    const c = await eventually('the comment at the start', () => jira.issues.get('PAY-1')!.comments.find((x) => x.body.includes('access granted to alice')));
    expect(c.body).toContain('push on git:payments:hotfix/later');
    expect(c.body).toContain(`until ${new Date(Date.parse(start) + 3600_000).toISOString()}`);
    await eventually('grant.activated', () => eventsFor(r.id).includes('grant.activated'));
  });

  it('a Jira that does not answer, or cannot be reached, refuses the request (fail closed) and says why', async () => {
    jira.failNext('hang', 1);
    const slow = await hotfix('PAY-1', 'slow');
    expect(slow.code).toBe(2);
    expect(slow.stderr).toContain('cannot check ticket PAY-1 in Jira (no answer within 10s); the request was not filed, try again');
    await jira.down();
    try {
      const down = await hotfix('PAY-1', 'down');
      expect(down.code).toBe(2);
      expect(down.stderr).toContain('cannot check ticket PAY-1 in Jira (cannot connect (ECONNREFUSED)); the request was not filed, try again');
    } finally {
      await jira.up();
    }
    expect((await ajar.json(['requests', '--user', 'alice'])).filter((x: any) => /hotfix\/(slow|down)$/.test(x.resources[0]))).toEqual([]);
  });

  it('a comment Jira refuses with a 5xx, or does not answer, is retried until it lands, once', async () => {
    const r = JSON.parse((await hotfix('PAY-3', 'retry')).stdout);
    jira.failNext(500, 1);
    jira.failNext('hang', 1);
    await ajar.json(['approve', r.id], { as: 'bob' });
    const failed = await eventually('the 500', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.channel === 'jira' && d.lastError === 'jira comment on PAY-3: HTTP 500' && d.state === 'pending'));
    ajar.advance(10);
    const timedOut = (d: any) => d.id === failed.id && d.lastError === 'jira comment on PAY-3: no answer within 10s' && d.state === 'pending';
    await eventually('the timeout', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find(timedOut), 30_000);
    ajar.advance(20);
    await eventually('the comment', () => jira.issues.get('PAY-3')!.comments.some((c) => c.body.includes(r.id)));
    const done = (await ajar.json(['outbox', '--state', 'all', '--limit', '1000'])).deliveries.find((d: any) => d.id === failed.id);
    expect(done).toMatchObject({ state: 'delivered', attempts: 3 });
    expect(jira.issues.get('PAY-3')!.comments.filter((c) => c.body.includes(r.id))).toHaveLength(1);
  });

  it('only a ticket Jira confirmed at filing gets comments: an optional ticket, in any form, is left alone', async () => {
    const before = jira.requests.length;
    const ids: string[] = [];
    for (const [branch, ticket] of [['77', 'CHG0012345'], ['78', 'PAY-1']]) {
      const r = await ajar.json(['request', '-r', `git:payments:release/${branch}`, '-a', 'push', '--reason', 'change', '--ticket', ticket!], { as: 'alice' });
      await ajar.json(['approve', r.id], { as: 'bob' });
      ids.push(r.id);
    }
    const activations = await eventually('both grants activated', () => {
      const got = ids.map((id) => hook.ok('/all').find((g) => g.json.data.request_id === id && g.json.type === 'grant.activated'));
      return got.every(Boolean) && got.map((g) => g!.json.data.event_id);
    });
    // The event's deliveries were all planned together: none of them is for Jira.
    const all = (await ajar.json(['outbox', '--state', 'all', '--limit', '1000'])).deliveries;
    for (const evt of activations) {
      expect(all.some((d: any) => d.eventId === evt)).toBe(true);
      expect(all.filter((d: any) => d.eventId === evt && d.channel === 'jira')).toEqual([]);
    }
    expect(jira.requests.slice(before)).toEqual([]);
  });
});

describe('reminders, escalation and break-glass', () => {
  it('approvers are reminded every hour, once after a long downtime, and the security tier is told when it escalates', async () => {
    const explained = await ajar.cli(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/9'], { as: 'erin' });
    expect(explained.stdout).toContain('undecided: approvers reminded every 1h');
    const r = await ajar.json(['request', '-r', 'git:payments:release/9', '-a', 'push', '--reason', 'waiting'], { as: 'erin' });
    await eventually('the first emails', () => mailsTo('bob@example.com').some((m) => m.subject.includes(r.id)));
    await ajar.stop();
    ajar.advance(3600);
    await ajar.start();
    await eventually('a reminder', () => mailsTo('bob@example.com').some((m) => m.subject.startsWith('Reminder') && m.subject.includes(r.id)));
    expect(mailsTo('carol@example.com').some((m) => m.subject.includes(r.id))).toBe(false);
    await ajar.stop();
    ajar.advance(5 * 3600);
    await ajar.start();
    // The tier is told of the escalation (and, being approvers now, reminded too, in either order).
    const told = await eventually('the escalation tier told', () => mailsTo('carol@example.com').find((m) => m.subject.includes(r.id) && m.subject.startsWith('Escalated to you')));
    expect(told.text).toContain('Escalated to you: no decision on stage 1 within 2h');
    await eventually('reminded again', () => mailsTo('frank@example.com').filter((m) => m.subject.startsWith('Reminder') && m.subject.includes(r.id)).length === 2);
    const reminded = (await ajar.json(['audit', '--type', 'request.reminded'])).filter((e: any) => e.requestId === r.id);
    // One at 1h, one after the 5h downtime: not one per missed hour.
    expect(reminded.map((e: any) => e.details.reminder)).toEqual([1, 2]);
    await ajar.json(['approve', r.id], { as: 'carol' });
    await ajar.stop();
    ajar.advance(3 * 3600);
    await ajar.start();
    expect((await ajar.json(['audit', '--type', 'request.reminded'])).filter((e: any) => e.requestId === r.id)).toHaveLength(2);
  });

  it('break-glass use is told to the admins and the webhooks at once', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments', '-a', 'push', '--reason', 'prod is down', '--break-glass', '--duration', '30m'], { as: 'alice' });
    const mail = await eventually('admins mailed', () => mailsTo('carol@example.com').find((m) => m.subject === 'Break-glass access used by alice'));
    expect(mail.text).toContain('prod is down');
    await eventually('webhook', () => eventsFor(r.id).includes('breakglass.used'));
    const down = await eventually('the unreachable endpoint retried', async () => (await ajar.json(['outbox', '--state', 'failed'])).deliveries.find((d: any) => d.channel === 'webhook:unreachable'));
    expect(down.lastError).toBe('webhook unreachable: cannot connect (ECONNREFUSED)');
  });
});

describe('retention', () => {
  it('delivered notifications are forgotten after keep_delivered_days (30); dead letters stay until retried', async () => {
    const before = await ajar.json(['outbox', '--state', 'delivered', '--limit', '1000']);
    const dead = await ajar.json(['outbox', '--state', 'dead', '--limit', '1000']);
    expect(before.deliveries.length).toBeGreaterThan(10);
    expect(dead.deliveries.length).toBeGreaterThan(0);
    await ajar.stop();
    ajar.advance(29 * 86400);
    await ajar.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await ajar.json(['outbox', '--state', 'delivered', '--limit', '1000'])).deliveries.length).toBeGreaterThanOrEqual(before.deliveries.length);
    await ajar.stop();
    ajar.advance(2 * 86400);
    await ajar.start();
    await eventually('old deliveries pruned', async () => (await ajar.json(['outbox', '--state', 'delivered', '--limit', '1000'])).deliveries.every((d: any) => !before.deliveries.some((b: any) => b.id === d.id)));
    const deadAfter = (await ajar.json(['outbox', '--state', 'dead', '--limit', '1000'])).deliveries.map((d: any) => d.id);
    expect(deadAfter).toEqual(expect.arrayContaining(dead.deliveries.map((d: any) => d.id)));
  });
});

describe('secrets', () => {
  it('after every failure path above (webhook, SMTP, Jira), no secret, token or secret URL part is in a log line or a stored error', async () => {
    const log = ajar.serverLog();
    // The failure paths did run.
    for (const line of ['webhook all: HTTP 503', 'webhook unreachable: cannot connect', 'the SMTP server refused it (550)', 'the SMTP server deferred it (451)', 'jira comment on PAY-3: HTTP 500', 'jira comment on PAY-3: no answer within 10s']) expect(log).toContain(line);
    const stored = JSON.stringify(await ajar.json(['outbox', '--state', 'all', '--limit', '1000']));
    for (const secret of ['url-secret-123', SECRET_ALL, SECRET_REVOKED, SECRET_ALL.slice(6), JIRA_TOKEN, 'smtp-secret', smtp.url]) {
      expect(log).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
  });
});

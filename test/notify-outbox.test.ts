// The outbox itself, through signed webhooks to a local receiver that can be made
// to fail, to answer late, or never: dead letters retried in bulk, no head-of-line
// blocking, leases fenced (a late writer changes nothing; a killed process's
// claim is taken over once its lease runs out, and sent exactly once more), and
// an event that cannot be fanned out set aside without holding back the others.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { eventually, notifyConfig } from './support/notify.js';
import { Receiver } from './support/webhook-receiver.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

const hook = new Receiver();
let ajar: Ajar;

beforeAll(async () => {
  await hook.start();
  const config = notifyConfig({
    webhooks: {
      all: { url: `${hook.url}/all`, secret_env: 'HOOK_SECRET' },
      slow: { url: `${hook.url}/slow`, secret_env: 'HOOK_SECRET', events: ['request.created'] },
    },
  });
  ajar = await startAjar({ config, serverEnv: { HOOK_SECRET: SECRET } });
});
afterAll(async () => {
  await ajar?.stop();
  hook.close();
});

/**
 * A feature-branch push, filed through the API (quicker than the CLI, so a test's
 * requests go out close together): approved at once, so three events (created,
 * approved, activated) to /all, one to /slow.
 */
async function file(reason: string): Promise<{ id: string }> {
  const r = await ajar.api('POST', '/v1/requests', { as: 'alice', body: { resources: [`git:payments:feature/${reason.replace(/\W+/g, '-')}`], actions: ['push'], reason } });
  expect(r.status).toBe(201);
  return r.body;
}
/** `ajar outbox --json`, read through the API as an admin (polled often: a CLI process each time is slow). */
async function outbox(state = ''): Promise<{ undelivered: number; events: any[]; deliveries: any[] }> {
  const r = await ajar.api('GET', `/v1/outbox?limit=1000${state ? `&state=${state}` : ''}`, { as: 'carol' });
  expect(r.status).toBe(200);
  return r.body;
}
/** The reason of the request an event is about (an approval's own reason is the policy's). */
const reasonOf = (json: any): string => json.data.request?.reason ?? '';
const eventsAt = (endpoint: string, requestId: string) => hook.got.filter((g) => g.endpoint === endpoint && g.json.data.request_id === requestId);
const deliveries = async (state = 'all') => (await outbox(state)).deliveries;
const delivery = async (id: string) => (await deliveries()).find((d) => d.id === id);
/** Moving the clock past the lease of a send in flight would send it again: wait until nothing (but `except`) is in flight. */
const settled = (except?: string) => eventually('nothing in flight', async () => !(await deliveries('sending')).some((d) => d.id !== except));
/** The webhook-id (the delivery id) of the first event at /slow for this request, once it arrived. */
const slowId = (requestId: string) => eventually('the event at /slow', () => eventsAt('/slow', requestId)[0]?.headers['webhook-id'] as string | undefined);
/** File a request whose event at /slow gets no answer (Ajar gives up after 10 s); returns that delivery's id. */
async function heldAtSlow(reason: string): Promise<string> {
  hook.answer = (endpoint, j) => (endpoint === '/slow' && reasonOf(j) === reason ? 'hold' : 200);
  return slowId((await file(reason)).id);
}
/** Whether the server logged `message` about delivery `id`. */
const logged = (id: string, message: string) => ajar.serverLog().split('\n').some((l) => l.includes(id) && l.includes(message));
/** Past any backoff or lease, a later request goes out to /slow, and delivery `id` was still sent `times` times. */
async function sentNoMore(id: string, times: number) {
  await settled();
  ajar.advance(3600);
  await slowId((await file(`probe after ${id}`)).id);
  expect(hook.sends(id)).toBe(times);
}

describe('the outbox', () => {
  it('ajar outbox retry --state dead [--channel C] sends every dead letter (of a channel) again, for admins only', async () => {
    hook.answer = (_, j) => (reasonOf(j).startsWith('bulk') ? 400 : 200);
    const ids = [(await file('bulk one')).id, (await file('bulk two')).id];
    const dead = async (channel: string) => (await deliveries('dead')).filter((d) => d.channel === channel);
    await eventually('eight dead letters', async () => (await dead('webhook:all')).length === 6 && (await dead('webhook:slow')).length === 2);
    hook.answer = () => 200;

    const refused = await ajar.cli(['outbox', 'retry', '--state', 'dead'], { as: 'alice' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('admin');
    expect(await ajar.json(['outbox', 'retry', '--state', 'dead', '--channel', 'webhook:slow'])).toEqual({ retried: 2 });
    await eventually('the two at /slow delivered', () => ids.every((id) => eventsAt('/slow', id).length === 2));
    expect(await dead('webhook:all')).toHaveLength(6);
    // `webhook` names every endpoint.
    const table = await ajar.cli(['outbox', 'retry', '--state', 'dead', '--channel', 'webhook']);
    expect(table.stdout).toBe('6 dead deliveries of webhook will be sent again\n');
    await eventually('all delivered', async () => (await deliveries('dead')).length === 0 && ids.every((id) => eventsAt('/all', id).length === 6));
    expect((await ajar.cli(['outbox', 'retry', '--state', 'dead', '--channel', 'jira'])).stdout).toBe('0 dead deliveries of jira will be sent again\n');
    expect((await ajar.cli(['outbox', 'retry'])).stderr).toContain('give a delivery id, or --state dead');
  });

  it('a receiver that never answers holds up neither the other deliveries nor the fan-out', async () => {
    hook.answer = (endpoint, j) => (endpoint === '/slow' && reasonOf(j).startsWith('stuck') ? 'hold' : 200);
    for (let i = 0; i < 5; i++) await file(`stuck ${i}`);
    // One endpoint gets at most four of the sends in flight; the fifth waits its turn.
    await eventually('four held', () => hook.held.length === 4);
    const free = await file('free');
    // It goes out while Ajar still waits for all four stuck sends (none has timed out);
    // its event for the stuck endpoint is fanned out too, and waits there for a free slot.
    await eventually('the new request at /all', () => eventsAt('/all', free.id).length === 3);
    expect(hook.held.filter((h) => !h.closed)).toHaveLength(4);
    expect((await outbox()).undelivered).toBe(0);
    expect((await deliveries('pending')).filter((d) => d.channel === 'webhook:slow')).toHaveLength(2);
    hook.answer = () => 200;
    hook.release(200);
    // Any that timed out meanwhile are retried after their backoff.
    await settled();
    ajar.advance(60);
    await eventually('the stuck ones delivered too', async () => (await deliveries('all')).filter((d) => d.channel === 'webhook:slow').every((d) => d.state === 'delivered'));
  });

  it('only the holder of a claim writes its outcome: a send that outlived its lease cannot undo the send that took over', async () => {
    const id = await heldAtSlow('late');
    // The lease (120 s) runs out while the first send still waits: the worker claims it again and sends.
    hook.answer = () => 200;
    ajar.advance(121);
    await eventually('sent again and delivered', async () => (await delivery(id))?.state === 'delivered');
    expect(hook.sends(id)).toBe(2);
    // Now the first send gets its answer: an error that, written, would put the delivery back to waiting.
    hook.release(500);
    await eventually('the late outcome dropped', () => logged(id, 'a delivery outlived its claim'));
    expect(await delivery(id)).toMatchObject({ state: 'delivered', attempts: 2, lastError: null });
    // No third send, even past any backoff.
    await sentNoMore(id, 2);
  });

  it('a process killed while it holds a claim: nothing is sent again before the lease runs out, then exactly once more', async () => {
    const id = await heldAtSlow('crash');
    await settled(id); // the request's other deliveries recorded: only this claim dies with the process
    await ajar.crash();
    hook.held.splice(0);
    hook.answer = () => 200;
    await ajar.start();
    // The worker runs (a new request goes out), but the claim of the dead process holds.
    const probe = await file('probe crash');
    await slowId(probe.id);
    await settled(id);
    expect(hook.sends(id)).toBe(1);
    expect(await delivery(id)).toMatchObject({ state: 'sending', attempts: 1 });
    ajar.advance(121);
    await eventually('sent once more and delivered', async () => (await delivery(id))?.state === 'delivered');
    expect(hook.sends(id)).toBe(2);
    expect(await delivery(id)).toMatchObject({ attempts: 2 });
    await sentNoMore(id, 2);
  });

  it('an event that cannot be fanned out is retried, then set aside as failed and shown by ajar outbox, while every other event goes out', { timeout: 240_000 }, async () => {
    // A request waiting for a lead: its request.created goes out as usual.
    const p = (await ajar.api('POST', '/v1/requests', { as: 'alice', body: { resources: ['git:payments:release/1'], actions: ['push'], reason: 'poison' } })).body;
    const evt = (await eventually('its request.created', () => eventsAt('/all', p.id)[0])).json.data.event_id as string;
    await settled();
    // Then its stored plan is broken (bad data, or a bug) and its event put back in the outbox.
    await ajar.stop();
    const [{ plan }] = await ajar.sql('select plan::text as plan from access_requests where id = $1', [p.id]);
    await ajar.sql(`update access_requests set plan = 'null'::jsonb where id = $1`, [p.id]);
    await ajar.sql('update outbox set fanned_out_at = null where event_id = $1', [evt]);
    await ajar.start();

    const q = await file('after the poison');
    await eventually('a later event goes out', () => eventsAt('/all', q.id).length === 3);
    const failing = async () => (await outbox()).events.find((e: any) => e.eventId === evt);
    for (let n = 1; n < 5; n++) {
      const e = await eventually(`fan-out attempt ${n}`, async () => (await failing())?.attempts === n && failing());
      expect(e).toMatchObject({ event: 'request.created', state: 'retrying' });
      expect(e.lastError).toContain('null');
      await settled();
      ajar.advance(10 * 2 ** (n - 1)); // the backoff: 10 s, 20 s, 40 s, 80 s
    }
    await eventually('set aside', async () => (await failing())?.state === 'failed');
    expect((await failing()).attempts).toBe(5);
    const table = (await ajar.cli(['outbox'])).stdout;
    expect(table).toContain('events that could not be turned into notifications');
    expect(table).toMatch(new RegExp(`${evt}\\s+request\\.created\\s+failed\\s+5`));
    // Set aside: no more attempts, much later either.
    await settled();
    ajar.advance(3600);
    const r = await file('much later');
    await eventually('the later one out', () => eventsAt('/all', r.id).length === 3);
    expect((await failing()).attempts).toBe(5);

    // Once the data is fixed, an admin fans it out again; what was delivered before is not sent twice.
    await ajar.stop();
    await ajar.sql('update access_requests set plan = $1::jsonb where id = $2', [plan, p.id]);
    await ajar.start();
    expect(await ajar.json(['outbox', 'retry', evt])).toMatchObject({ eventId: evt, attempts: 0 });
    await eventually('fanned out', async () => (await outbox()).undelivered === 0);
    expect((await outbox()).events).toEqual([]);
    await settled();
    expect(eventsAt('/all', p.id).filter((g) => g.json.type === 'request.created')).toHaveLength(1);
    expect(ajar.serverLog()).not.toContain(SECRET);
  });
});

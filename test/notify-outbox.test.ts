// The outbox itself, through signed webhooks to a local receiver that can be made
// to fail, to answer late, or never: dead letters retried in bulk, no head-of-line
// blocking, leases fenced (a late writer changes nothing; a killed process's
// claim is taken over once its lease runs out, and sent exactly once more), and
// an event that cannot be fanned out set aside without holding back the others.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { eventually, notifyConfig } from './support/notify.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Received { endpoint: string; headers: IncomingHttpHeaders; json: any }
/** A webhook receiver: `answer` says what to do with each event (a status, or 'hold': no answer until `release`). */
class Receiver {
  got: Received[] = [];
  held: ServerResponse[] = [];
  answer: (endpoint: string, json: any) => number | 'hold' = () => 200;
  server!: Server;
  url = '';
  async start() {
    this.server = createServer(async (req, res) => {
      let body = '';
      for await (const c of req) body += c;
      const json = JSON.parse(body);
      this.got.push({ endpoint: req.url ?? '', headers: req.headers, json });
      const a = this.answer(req.url ?? '', json);
      if (a === 'hold') this.held.push(res);
      else res.writeHead(a).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }
  release(status: number) {
    for (const res of this.held.splice(0)) if (!res.destroyed) res.writeHead(status).end();
  }
  /** how many times the delivery with this webhook-id reached the receiver */
  sends(id: string) {
    return this.got.filter((g) => g.headers['webhook-id'] === id).length;
  }
}

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
  hook.release(200);
  hook.server?.closeAllConnections();
  hook.server?.close();
});

/** A feature-branch push: approved at once, so three events (created, approved, activated) to /all, one to /slow. */
const file = (reason: string) => ajar.json(['request', '-r', `git:payments:feature/${reason.replace(/\W+/g, '-')}`, '-a', 'push', '--reason', reason], { as: 'alice' });
/** The reason of the request an event is about (an approval's own reason is the policy's). */
const reasonOf = (json: any): string => json.data.request?.reason ?? '';
const eventsAt = (endpoint: string, requestId: string) => hook.got.filter((g) => g.endpoint === endpoint && g.json.data.request_id === requestId);
const deliveries = async (state = 'all') => (await ajar.json(['outbox', '--state', state, '--limit', '1000'])).deliveries as any[];
const delivery = async (id: string) => (await deliveries()).find((d) => d.id === id);
/** Moving the clock past the lease of a send in flight would send it again: wait until nothing (but `except`) is in flight. */
const settled = (except?: string) => eventually('nothing in flight', async () => !(await deliveries('sending')).some((d) => d.id !== except));
/** The webhook-id (the delivery id) of the first event at /slow for this request, once it arrived. */
const slowId = (requestId: string) => eventually('the event at /slow', () => eventsAt('/slow', requestId)[0]?.headers['webhook-id'] as string | undefined);

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
    const t0 = Date.now();
    const free = await file('free');
    // Well inside the 10 s the stuck sends wait for an answer; its event for the stuck
    // endpoint is fanned out too, and waits there for a free slot.
    await eventually('the new request at /all', () => eventsAt('/all', free.id).length === 3, 5000);
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(hook.held).toHaveLength(4);
    expect((await ajar.json(['outbox'])).undelivered).toBe(0);
    expect((await deliveries('pending')).filter((d) => d.channel === 'webhook:slow')).toHaveLength(2);
    hook.answer = () => 200;
    hook.release(200);
    // Any that timed out meanwhile are retried after their backoff.
    await settled();
    ajar.advance(60);
    await eventually('the stuck ones delivered too', async () => (await deliveries('all')).filter((d) => d.channel === 'webhook:slow').every((d) => d.state === 'delivered'));
  });

  it('only the holder of a claim writes its outcome: a send that outlived its lease cannot undo the send that took over', async () => {
    hook.answer = (endpoint, j) => (endpoint === '/slow' && reasonOf(j) === 'late' ? 'hold' : 200);
    const r = await file('late');
    const id = await slowId(r.id);
    await settled(id);
    // The lease (120 s) runs out while the first send still waits: the worker claims it again and sends.
    hook.answer = () => 200;
    ajar.advance(121);
    await eventually('sent again and delivered', async () => (await delivery(id))?.state === 'delivered');
    expect(hook.sends(id)).toBe(2);
    // Now the first send gets its answer: an error that, written, would put the delivery back to waiting.
    hook.release(500);
    await eventually('the late outcome dropped', () => ajar.serverLog().includes('a delivery outlived its claim'));
    expect(await delivery(id)).toMatchObject({ state: 'delivered', attempts: 2, lastError: null });
    // No third send, even past any backoff: a later request goes out, this one does not.
    await settled();
    ajar.advance(3600);
    const probe = await file('probe late');
    await slowId(probe.id);
    expect(hook.sends(id)).toBe(2);
  });

  it('a process killed while it holds a claim: nothing is sent again before the lease runs out, then exactly once more', async () => {
    hook.answer = (endpoint, j) => (endpoint === '/slow' && reasonOf(j) === 'crash' ? 'hold' : 200);
    const r = await file('crash');
    const id = await slowId(r.id);
    await settled(id);
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
    await settled();
    ajar.advance(3600);
    const later = await file('probe later');
    await slowId(later.id);
    expect(hook.sends(id)).toBe(2);
  });

  it('an event that cannot be fanned out is retried, then set aside as failed and shown by ajar outbox, while every other event goes out', async () => {
    // A request waiting for a lead: its request.created goes out as usual.
    const p = await ajar.json(['request', '-r', 'git:payments:release/1', '-a', 'push', '--reason', 'poison'], { as: 'alice' });
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
    const failing = async () => (await ajar.json(['outbox'])).events.find((e: any) => e.eventId === evt);
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
    await eventually('fanned out', async () => (await ajar.json(['outbox'])).undelivered === 0);
    expect((await ajar.json(['outbox'])).events).toEqual([]);
    await settled();
    expect(eventsAt('/all', p.id).filter((g) => g.json.type === 'request.created')).toHaveLength(1);
    expect(ajar.serverLog()).not.toContain(SECRET);
  });
});

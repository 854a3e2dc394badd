// The gate's wait: poll the request until it is decided, or until any grant
// that could allow the deploy is active (an approval of an earlier run's
// request counts too), or until the wait is over — on Ajar's clock, settable in
// tests. It prints progress when it changes and a heartbeat every minute (CI
// systems kill jobs that stay silent), and rides out a blip of the network or
// of Ajar by retrying with backoff until the deadline.
import type { RequestDto } from '../app/views.js';
import { formatDuration } from '../domain/duration.js';
import { clockFromEnv } from '../domain/clock.js';
import { callJson, CliError, type Client } from './client.js';

const HEARTBEAT_S = 60;
const MAX_BACKOFF_S = 30;

export interface WaitOptions {
  /** when the gate began to wait (before it filed the request), on Ajar's clock */
  since: Date;
  waitSeconds: number;
  /** --wait as given, for messages */
  waitText: string;
  pollSeconds: number;
  /** the gate's check (counting a use when allowed) */
  attempt(): Promise<{ allow: boolean; reason?: string }>;
  /** is there an active grant that could allow this deploy? (no use counted, nothing audited) */
  usableGrant(): Promise<boolean>;
}

const sleep = (seconds: number) => new Promise((ok) => setTimeout(ok, Math.max(0.05, seconds) * 1000));

/** Ajar unreachable, a proxy's 502, Ajar's 503 or 500: worth another try. Refusals and bad tokens are not. */
const transient = (e: unknown) => e instanceof CliError && (e.apiCode === undefined || e.apiCode === 'unavailable' || e.apiCode === 'internal');

export async function waitForAccess(c: Client, req: RequestDto, o: WaitOptions): Promise<number> {
  const clock = clockFromEnv();
  const start = o.since.getTime();
  const deadline = start + o.waitSeconds * 1000;
  const say = (line: string) => process.stderr.write(`ajar gate: ${line}\n`);
  let r = req;
  let usable = false;
  let last = '';
  // Measured from the start of the wait: the first heartbeat comes a minute after it, however long filing took.
  let lastSaid = start;
  for (;;) {
    if (r.state === 'denied' || r.state === 'cancelled' || r.state === 'expired') {
      say(`refused: request ${r.id} was ${r.state}${r.decisionReason ? `: ${r.decisionReason}` : ''}`);
      return 1;
    }
    if (r.state === 'approved' || usable) {
      const a = await o.attempt();
      if (a.allow) return 0;
      if (r.state === 'approved') {
        say(`approved, but not allowed now: ${a.reason}`);
        return 1;
      }
    }
    const now = clock.now().getTime();
    const progress = r.approvals.map((s) => `${s.have} of ${s.count} from ${[...s.groups, ...s.users].join(', ')}`).join('; ');
    const line = `waiting for approval${progress ? `: ${progress}` : ''}`;
    if (now - lastSaid >= HEARTBEAT_S * 1000) {
      say(`still waiting (${formatDuration((now - start) / 1000)} elapsed, ${formatDuration(Math.max(0, deadline - now) / 1000)} left) for request ${r.id}${progress ? `: ${progress}` : ''}`);
      lastSaid = now;
    } else if (line !== last) say(line);
    last = line;
    if (now >= deadline) {
      say(`refused: no decision within ${o.waitText}; request ${r.id} is still pending`);
      return 1;
    }
    await sleep(o.pollSeconds);
    [r, usable] = await poll(c, r.id, o, () => clock.now().getTime() < deadline);
  }
}

/** The request and whether a usable grant exists, retried with backoff while `more()`. */
async function poll(c: Client, id: string, o: WaitOptions, more: () => boolean): Promise<[RequestDto, boolean]> {
  for (let failures = 0; ; failures++) {
    try {
      const r = await callJson<RequestDto>(c, 'GET', `/v1/requests/${encodeURIComponent(id)}`);
      return [r, r.state === 'pending' && (await o.usableGrant())];
    } catch (e) {
      if (!transient(e) || !more()) throw e;
      const pause = Math.min(MAX_BACKOFF_S, o.pollSeconds * 2 ** failures);
      process.stderr.write(`ajar gate: ${(e as Error).message}; trying again in ${formatDuration(Math.max(1, Math.round(pause)))}\n`);
      await sleep(pause);
    }
  }
}

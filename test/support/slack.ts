// A fake Slack Web API on a free local port: the few methods Ajar calls, with
// the status codes, `{ok, error}` bodies and argument encodings of the real
// https://slack.com/api, recording every call so tests can assert on it.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';

export interface SlackCall { method: string; auth: string | undefined; contentType: string; args: Record<string, unknown>; at: number }
/** A workspace member: `confirmed` (is_email_confirmed), `deleted` and `bot` (is_bot) as Slack reports them; defaults true, false, false. */
export interface SlackMember { id: string; confirmed?: boolean; deleted?: boolean; bot?: boolean }
/** How a call fails: an HTTP status (429 carries Retry-After, 1 unless given), 'hang' (never answers), or a Slack error string (HTTP 200 {ok:false,error}) */
export type SlackFailure = number | 'hang' | string | { status: number; retryAfter: string };
export interface SlackMessage { channel: string; ts: string; text: string; blocks: unknown[]; updates: number }
export interface FakeSlack {
  /** e.g. http://127.0.0.1:PORT/api (Ajar calls `${apiUrl}/chat.postMessage`) */
  apiUrl: string;
  calls: SlackCall[];
  /** every message posted, updated in place by chat.update */
  messages: SlackMessage[];
  views: { trigger_id: string; view: any }[];
  /** make the next `times` calls of `method` fail (see SlackFailure); with `about`, only calls whose arguments mention it */
  failNext(method: string, how: SlackFailure, times?: number, about?: string): void;
  /** answer the next `times` calls of `method` normally, but only after `ms` */
  delayNext(method: string, ms: number, times?: number): void;
  /** a trigger_id that views.open will accept once, within 3 seconds (as on Slack) */
  issueTriggerId(): string;
  close(): Promise<void>;
}

/** Slack's request signing: X-Slack-Signature = 'v0=' + hex(HMAC-SHA256(secret, `v0:${timestamp}:${rawBody}`)); header X-Slack-Request-Timestamp = timestamp (unix seconds as string). */
export function slackSignature(signingSecret: string, timestamp: number, rawBody: string): string {
  return 'v0=' + createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex');
}

/** The body Slack posts to an app's interactivity URL: application/x-www-form-urlencoded with one field `payload` = JSON. */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

// Form-encoded calls carry structured arguments as JSON strings; JSON calls may too.
const JSON_FIELDS = ['blocks', 'attachments', 'view', 'metadata'];

type Reply = { status: number; body: Record<string, unknown> | string; headers?: Record<string, string> } | 'hang';
// Slack's read methods take form-encoded (or query) arguments only; a JSON body is not
// read at all ("This method does not currently accept application/json"), so the
// method sees no arguments.
const FORM_ONLY = new Set(['users.lookupByEmail', 'users.info']);
const TRIGGER_TTL_MS = 3000;
const ok = (body: Record<string, unknown> = {}): Reply => ({ status: 200, body: { ok: true, ...body } });
const err = (error: string): Reply => ({ status: 200, body: { ok: false, error } });

export async function startFakeSlack(opts: { token: string; users: Record<string, string | SlackMember> /* email -> Slack user id (e.g. U0ALICE) or member */ }): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const messages: SlackMessage[] = [];
  const views: { trigger_id: string; view: any }[] = [];
  // `about`: only calls whose arguments mention it take the failure (a late message about
  // an earlier test's request must not use up the failures meant for this one).
  const failures = new Map<string, { how: SlackFailure; left: number; about?: string | undefined }[]>();
  const delays = new Map<string, { ms: number; left: number }[]>();
  const triggers = new Map<string, number>(); // trigger_id -> issued at
  const members = Object.entries(opts.users).map(([email, m]) => ({ email, ...(typeof m === 'string' ? { id: m } : m) }));
  // The user object of users.info and users.lookupByEmail (the fields Ajar reads, as Slack names them).
  const userObject = (m: (typeof members)[number]) => ({
    id: m.id,
    team_id: 'T0AJAR',
    name: m.email.split('@')[0],
    deleted: m.deleted ?? false,
    is_bot: m.bot ?? false,
    is_app_user: false,
    is_email_confirmed: m.confirmed ?? true,
    profile: { email: m.email, real_name: m.email.split('@')[0] },
  });
  let lastTs = 0; // microseconds; message ts values strictly increase
  let seq = 0;

  function nextTs(): string {
    lastTs = Math.max(Date.now() * 1000, lastTs + 1);
    return `${Math.floor(lastTs / 1e6)}.${String(lastTs % 1e6).padStart(6, '0')}`;
  }

  // Slack accepts a channel id, a '#name' (or bare name), or a user id, which
  // means the DM with that user. Unknown users have no DM: channel_not_found.
  function resolveChannel(channel: string): string | undefined {
    if (/^[CGD][A-Z0-9]+$/.test(channel)) return channel;
    if (/^[UW][A-Z0-9]+$/.test(channel)) return members.some((m) => m.id === channel && !m.deleted) ? 'D' + channel.slice(1) : undefined;
    return 'C' + channel.replace(/^#/, '').toUpperCase();
  }

  function blocksOf(args: Record<string, unknown>): unknown[] | undefined | false {
    if (args.blocks === undefined || args.blocks === '') return undefined;
    return Array.isArray(args.blocks) ? args.blocks : false;
  }

  const methods: Record<string, (a: Record<string, unknown>) => Reply> = {
    'chat.postMessage'(a) {
      const channel = typeof a.channel === 'string' && a.channel ? resolveChannel(a.channel) : undefined;
      if (!channel) return err('channel_not_found');
      const blocks = blocksOf(a);
      if (blocks === false) return err('invalid_blocks');
      const text = typeof a.text === 'string' ? a.text : '';
      if (!text && !blocks) return err('no_text');
      const ts = nextTs();
      messages.push({ channel, ts, text, blocks: blocks ?? [], updates: 0 });
      return ok({ channel, ts, message: { type: 'message', ts, text, blocks: blocks ?? [] } });
    },
    'chat.update'(a) {
      // chat.update wants the channel id the message lives in (a DM's D..., not a user id).
      const m = messages.find((x) => x.channel === a.channel && x.ts === a.ts);
      if (!m) return err('message_not_found');
      const blocks = blocksOf(a);
      if (blocks === false) return err('invalid_blocks');
      if (typeof a.text !== 'string' && !blocks) return err('no_text');
      // fields left out keep their previous value, as on Slack
      if (typeof a.text === 'string') m.text = a.text;
      if (blocks) m.blocks = blocks;
      m.updates++;
      return ok({ channel: m.channel, ts: m.ts, text: m.text, message: { text: m.text, blocks: m.blocks } });
    },
    'views.open'(a) {
      const trigger = typeof a.trigger_id === 'string' ? a.trigger_id : '';
      const issued = triggers.get(trigger);
      if (issued === undefined) return err('invalid_trigger_id');
      triggers.delete(trigger);
      if (Date.now() - issued > TRIGGER_TTL_MS) return err('expired_trigger_id');
      const view = a.view as { type?: unknown } | undefined;
      if (!view || typeof view !== 'object' || Array.isArray(view) || view.type !== 'modal') return err('invalid_arguments');
      views.push({ trigger_id: trigger, view });
      return ok({ view: { id: `V${String(++seq).padStart(8, '0')}`, ...view } });
    },
    'users.lookupByEmail'(a) {
      if (typeof a.email !== 'string' || !a.email) return err('invalid_arguments');
      const m = members.find((x) => x.email.toLowerCase() === (a.email as string).toLowerCase());
      if (!m) return err('users_not_found');
      return ok({ user: userObject(m) });
    },
    // users.info: the profile's email is there when the app has the users:read.email scope.
    'users.info'(a) {
      if (typeof a.user !== 'string' || !a.user) return err('invalid_arguments');
      const m = members.find((x) => x.id === a.user);
      if (!m) return err('user_not_found');
      return ok({ user: userObject(m) });
    },
  };

  async function handle(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/([A-Za-z.]+)$/.exec(url.pathname);
    if (!m) return { status: 404, body: 'Not Found' };
    const method = m[1]!;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const type = String(req.headers['content-type'] ?? '').toLowerCase();
    const auth = req.headers.authorization;
    // Like Slack, any method also takes GET with query-string arguments.
    let args: Record<string, unknown> = Object.fromEntries(url.searchParams);
    let parseError: string | undefined;
    let warning: string | undefined;
    if (req.method === 'POST' && raw) {
      if (type.startsWith('application/json')) {
        if (!type.includes('charset')) warning = 'missing_charset'; // Slack answers, with a warning
        try {
          const v = JSON.parse(raw);
          if (!v || typeof v !== 'object' || Array.isArray(v)) parseError = 'invalid_json';
          else if (!FORM_ONLY.has(method)) args = { ...args, ...v };
        } catch {
          parseError = 'invalid_json';
        }
      } else if (type.startsWith('application/x-www-form-urlencoded')) {
        args = { ...args, ...Object.fromEntries(new URLSearchParams(raw)) };
      } else parseError = 'invalid_form_data';
    }
    for (const f of JSON_FIELDS) {
      if (typeof args[f] !== 'string' || args[f] === '') continue;
      try {
        args[f] = JSON.parse(args[f] as string);
      } catch {
        parseError ??= f === 'blocks' ? 'invalid_blocks_format' : 'invalid_arguments';
      }
    }
    // Form-encoded calls may carry the token as a `token` field instead of the header.
    const formToken = type.startsWith('application/x-www-form-urlencoded') && typeof args.token === 'string' ? args.token : undefined;
    delete args.token;
    calls.push({ method, auth, contentType: type, args, at: Date.now() });

    const queue = failures.get(method);
    const fail = queue?.[0];
    if (fail && (fail.about === undefined || JSON.stringify(args).includes(fail.about))) {
      if (--fail.left <= 0) queue!.shift();
      const how = fail.how;
      if (how === 'hang') return 'hang';
      if (typeof how === 'string') return err(how);
      const status = typeof how === 'number' ? how : how.status;
      if (status === 429) return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': typeof how === 'number' ? '1' : how.retryAfter } };
      return { status, body: STATUS_CODES[status] ?? 'Error' };
    }
    const delay = delays.get(method)?.[0];
    if (delay) {
      if (--delay.left <= 0) delays.get(method)!.shift();
      await new Promise((r) => setTimeout(r, delay.ms));
    }
    const impl = methods[method];
    if (!impl) return err('unknown_method');
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : formToken;
    if (!bearer) return err('not_authed');
    if (bearer !== opts.token) return err('invalid_auth');
    if (parseError) return err(parseError);
    const reply = impl(args);
    if (warning && reply !== 'hang' && typeof reply.body === 'object') reply.body = { ...reply.body, warning, response_metadata: { warnings: [warning] } };
    return reply;
  }

  const server = createServer((req, res: ServerResponse) => {
    handle(req).then(
      (r) => {
        if (r === 'hang') return; // keep the socket open without an answer; close() destroys it
        const json = typeof r.body === 'object';
        res.writeHead(r.status, { 'content-type': json ? 'application/json; charset=utf-8' : 'text/plain', ...r.headers });
        res.end(json ? JSON.stringify(r.body) : r.body);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    calls,
    messages,
    views,
    failNext(method, how, times = 1, about) {
      const queue = failures.get(method) ?? [];
      queue.push({ how, left: times, about });
      failures.set(method, queue);
    },
    delayNext(method, ms, times = 1) {
      const queue = delays.get(method) ?? [];
      queue.push({ ms, left: times });
      delays.set(method, queue);
    },
    issueTriggerId() {
      // the shape of a real one: '<digits>.<digits>.<hex>'
      const id = `${Date.now()}.${++seq}.${createHmac('sha256', 'trigger').update(String(seq)).digest('hex').slice(0, 32)}`;
      triggers.set(id, Date.now());
      return id;
    },
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

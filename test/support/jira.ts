// A fake Jira REST API v2 on a free local port: reading an issue's status and
// adding a comment, with the auth schemes, status codes and error bodies of
// Jira Data Center (Bearer personal access token) or Jira Cloud (Basic
// email:API token). Every request is recorded so tests can assert on it.
import { createServer, type IncomingMessage, STATUS_CODES } from 'node:http';

export interface FakeJira {
  /** base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  issues: Map<string, { status: string; comments: { body: string; id: string }[] }>;
  /** `path` is the URL path without the query string, which is in `query` ('' when none) */
  requests: { method: string; path: string; query: string; auth: string | undefined; body: unknown }[];
  /** make the next `times` requests (any path) fail with that HTTP status, or never answer ('hang') */
  failNext(how: number | 'hang', times?: number): void;
  /** stop listening (connections are refused, as for a Jira that is down), and listen again on the same port */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

type Reply = { status: number; body?: unknown } | 'hang';
const errors = (status: number, errorMessages: string[], errs: Record<string, string> = {}): Reply => ({ status, body: { errorMessages, errors: errs } });

// Jira's three status categories, guessed from the status name the way a default workflow maps them.
function category(status: string): { id: number; key: string; name: string; colorName: string } {
  if (/^(done|closed|resolved|released|cancell?ed|won'?t (do|fix)|rejected)$/i.test(status)) return { id: 3, key: 'done', name: 'Done', colorName: 'green' };
  if (/^(to do|open|new|backlog|reopened|selected for development)$/i.test(status)) return { id: 2, key: 'new', name: 'To Do', colorName: 'blue-gray' };
  return { id: 4, key: 'indeterminate', name: 'In Progress', colorName: 'yellow' };
}

// Jira's timestamp format: 2024-05-01T12:34:56.789+0000
const jiraTime = (d = new Date()) => d.toISOString().replace('Z', '+0000');

export async function startFakeJira(opts: { token: string; email?: string; issues: Record<string, string> /* key -> status name */ }): Promise<FakeJira> {
  const issues: FakeJira['issues'] = new Map(Object.entries(opts.issues).map(([k, status]) => [k, { status, comments: [] }]));
  // numeric issue ids, also for issues a test adds to the map later
  const ids = new Map<string, string>();
  const idOf = (key: string) => ids.get(key) ?? (ids.set(key, String(10001 + ids.size)), ids.get(key)!);
  Object.keys(opts.issues).forEach(idOf);
  const requests: FakeJira['requests'] = [];
  const failures: { how: number | 'hang'; left: number }[] = [];
  let commentSeq = 10000;
  const expected = opts.email ? 'Basic ' + Buffer.from(`${opts.email}:${opts.token}`).toString('base64') : `Bearer ${opts.token}`;

  async function handle(req: IncomingMessage, base: string): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = raw || undefined;
    let badJson = false;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        badJson = true;
      }
    }
    requests.push({ method, path: url.pathname, query: url.search.slice(1), auth: req.headers.authorization, body });

    const fail = failures[0];
    if (fail) {
      if (--fail.left <= 0) failures.shift();
      if (fail.how === 'hang') return 'hang';
      return errors(fail.how, [STATUS_CODES[fail.how] ?? 'Error']);
    }
    if (req.headers.authorization !== expected) return errors(401, ['You are not authenticated. Authentication required to perform this operation.']);

    const m = /^\/rest\/api\/2\/issue\/([^/]+)(\/comment)?\/?$/.exec(url.pathname);
    if (!m) return errors(404, [`null for uri: ${base}${url.pathname}`]);
    // Issue keys are case-insensitive on Jira, and an issue can be addressed by its numeric id.
    const wanted = decodeURIComponent(m[1]!).toUpperCase();
    const key = [...issues.keys()].find((k) => k.toUpperCase() === wanted || idOf(k) === wanted);
    const issue = key === undefined ? undefined : issues.get(key);
    const self = key === undefined ? '' : `${base}/rest/api/2/issue/${idOf(key)}`;

    if (!m[2]) {
      if (method !== 'GET') return { status: 405 };
      if (!issue) return errors(404, ['Issue does not exist or you do not have permission to see it.']);
      // ?fields=... limits the fields returned; no parameter (or *all / *navigable) returns all of them.
      const fields = url.searchParams.get('fields')?.split(',').map((f) => f.trim());
      const wantStatus = !fields || fields.some((f) => ['status', '*all', '*navigable'].includes(f));
      const status = { self: `${base}/rest/api/2/status/1`, name: issue.status, id: '1', statusCategory: { self: `${base}/rest/api/2/statuscategory/1`, ...category(issue.status) } };
      return { status: 200, body: { expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations', id: idOf(key!), self, key, fields: wantStatus ? { status } : {} } };
    }

    if (method !== 'POST') return { status: 405 };
    // Jira's REST layer refuses anything but a JSON body before looking at the issue.
    if (!String(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) return { status: 415 };
    if (badJson) return errors(400, ['Unexpected character in the JSON request body.']);
    if (!issue) return errors(404, ['Issue does not exist or you do not have permission to see it.']);
    const text = (body as { body?: unknown } | undefined)?.body;
    if (typeof text !== 'string' || !text.trim()) return errors(400, [], { comment: 'Comment body can not be empty!' });
    const id = String(++commentSeq);
    issue.comments.push({ body: text, id });
    const created = jiraTime();
    return { status: 201, body: { self: `${self}/comment/${id}`, id, body: text, created, updated: created } };
  }

  const server = createServer((req, res) => {
    handle(req, `http://127.0.0.1:${port}`).then(
      (r) => {
        if (r === 'hang') return; // no answer; close() destroys the socket
        if (r.body === undefined) res.writeHead(r.status).end();
        else res.writeHead(r.status, { 'content-type': 'application/json;charset=UTF-8' }).end(JSON.stringify(r.body));
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  const stop = () =>
    new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
  return {
    url: `http://127.0.0.1:${port}`,
    issues,
    requests,
    failNext(how, times = 1) {
      failures.push({ how, left: times });
    },
    down: stop,
    up: () => new Promise<void>((done) => server.listen(port, '127.0.0.1', done)),
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

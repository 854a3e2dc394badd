// Commands for admins and for setting up: tokens, users, the audit log, login.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import type { AuditEvent } from '../app/audit-log.js';
import { parseDuration } from '../domain/duration.js';
import { callJson, CliError, type Client, type GlobalOptions, loginFile, remoteClient } from './client.js';
import { print, table } from './output.js';
import { fail, when, withClient } from './run.js';

type G = () => GlobalOptions;

export function registerAdminCommands(program: Command, g: G) {
  const token = program.command('token').description('API tokens');
  token
    .command('create')
    .description('create a token for a user or service account (on the server host, as its admin); the secret is shown once')
    .requiredOption('--user <name>', 'user or service account')
    .option('--ttl <duration>', 'lifetime, e.g. 30d, 12h', '30d')
    .option('--description <text>', 'what it is for')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(
        g(),
        async (c) => {
          const r = await callJson(c, 'POST', '/v1/tokens', { user: o.user, ttl: o.ttl, ...(o.description ? { description: o.description } : {}) });
          print(o.json, r, () => `${r.token}\n`);
          if (!o.json) process.stderr.write(`token ${r.id} for ${r.subject}, expires ${when(r.expiresAt)}. It is shown only once.\n`);
        },
        'local',
      ),
    );
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--user <name>', 'only this user\'s')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'GET', `/v1/tokens${o.user ? `?user=${encodeURIComponent(o.user)}` : ''}`);
        print(o.json, r.tokens, () =>
          table(r.tokens.map((t: any) => ({ ...t, expiresAt: when(t.expiresAt), revokedAt: when(t.revokedAt) })), ['id', 'subject', 'description', 'expiresAt', 'revokedAt']),
        );
      }),
    );
  token
    .command('revoke <id>')
    .description('revoke a token')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
        print(o.json, r, () => `token ${r.id} revoked\n`);
      }),
    );

  const user = program.command('user').description('users and service accounts');
  user
    .command('list')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'GET', '/v1/users');
        print(o.json, r.users, () => table(r.users.map((u: any) => ({ ...u, state: u.disabled ? 'disabled' : 'active' })), ['name', 'kind', 'groups', 'admin', 'state']));
      }),
    );
  user
    .command('disable <name>')
    .description('offboard: disable, revoke every grant and token, cancel every pending request')
    .option('--reason <text>', 'why')
    .option('--json', 'print JSON')
    .action((name, o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'POST', `/v1/users/${encodeURIComponent(name)}/disable`, o.reason ? { reason: o.reason } : {});
        print(o.json, r, () =>
          r.changed
            ? `${name} disabled: ${r.grants} grant(s) revoked, ${r.requests} request(s) cancelled, ${r.tokens} token(s) revoked\n`
            : `${name} was already disabled\n`,
        );
      }),
    );
  user
    .command('enable <name>')
    .option('--json', 'print JSON')
    .action((name, o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'POST', `/v1/users/${encodeURIComponent(name)}/enable`);
        print(o.json, r, () => `${name} ${r.disabled ? 'is still disabled in the config file' : 'is enabled'}; create a new token for it\n`);
      }),
    );

  const audit = program
    .command('audit')
    .description('list and export the audit log (admins)')
    .option('--user <name>', 'events by or about this user')
    .option('--resource <pattern>', 'events touching this resource')
    .option('--action <action>', 'events for this action')
    .option('--type <type>', 'event type, e.g. grant.revoked or grant.*')
    .option('--since <time>', 'ISO time, or a duration back from now (e.g. 7d)')
    .option('--until <time>', 'ISO time, or a duration back from now')
    .option('--limit <n>', 'at most this many events (default: all for exports, 100 for tables)', (v) => Number(v))
    .option('--format <format>', 'table, json, jsonl or csv', 'table')
    .option('--json', 'same as --format json')
    .action((o) =>
      withClient(g(), async (c) => {
        const format = o.json ? 'json' : o.format;
        if (!['table', 'json', 'jsonl', 'csv'].includes(format)) throw new CliError('--format is table, json, jsonl or csv');
        await exportAudit(c, o, format);
      }),
    );
  audit
    .command('verify')
    .description('verify the hash chain; exit 0 intact, 1 tampered (naming the first bad event), 2 error')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'GET', '/v1/audit/verify');
        print(o.json, r, () =>
          r.ok ? `audit chain intact: ${r.events} event(s), head ${r.headHash}\n` : `audit chain BROKEN at event #${r.firstBad.seq}${r.firstBad.id ? ` (${r.firstBad.id})` : ''}: ${r.problem}\n`,
        );
        return r.ok ? 0 : 1;
      }),
    );

  program
    .command('whoami')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'GET', '/v1/whoami');
        print(o.json, r, () => `${r.name} (${r.kind}${r.admin ? ', admin' : ''}) groups: ${r.groups.join(', ') || '-'}\n`);
      }),
    );

  program
    .command('resources')
    .description('the resources Ajar manages')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'GET', '/v1/resources');
        print(o.json, r.resources, () => table(r.resources.map((x: any) => ({ ...x, labels: Object.entries(x.labels).map(([k, v]) => `${k}=${v}`).join(',') })), ['id', 'kind', 'labels', 'description']));
      }),
    );

  program
    .command('login')
    .description('save the server URL and your token (read from AJAR_TOKEN or standard input) for later commands')
    .requiredOption('--url <url>', 'the Ajar server, e.g. https://ajar.example.com')
    .option('--json', 'print JSON')
    .action(async (o) => {
      try {
        const token = (process.env.AJAR_TOKEN || readFileSync(0, 'utf8')).trim();
        if (!token) throw new CliError('no token: pipe it on standard input or set AJAR_TOKEN');
        const me = await callJson(remoteClient(o.url, token), 'GET', '/v1/whoami');
        const file = loginFile();
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(file, JSON.stringify({ url: o.url, user: me.name, token }), { mode: 0o600 });
        print(o.json, { url: o.url, user: me.name, file }, () => `logged in to ${o.url} as ${me.name}; saved in ${file}\n`);
        process.exit(0);
      } catch (e) {
        process.exit(fail(e));
      }
    });
  program
    .command('logout')
    .description('forget the saved login')
    .option('--json', 'print JSON')
    .action((o) => {
      rmSync(loginFile(), { force: true });
      print(o.json, { loggedOut: true }, () => 'logged out\n');
    });
}

function timeArg(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const d = parseDuration(v);
  if (d.ok) return new Date(Date.now() - d.value * 1000).toISOString();
  if (Number.isNaN(new Date(v).getTime())) throw new CliError(`"${v}" is neither an ISO time nor a duration like 7d`);
  return v;
}

async function exportAudit(c: Client, o: any, format: string) {
  const base = new URLSearchParams();
  for (const k of ['user', 'resource', 'action', 'type'] as const) if (o[k]) base.set(k, o[k]);
  const since = timeArg(o.since);
  const until = timeArg(o.until);
  if (since) base.set('since', since);
  if (until) base.set('until', until);
  const want: number = o.limit ?? (format === 'table' ? 100 : Number.POSITIVE_INFINITY);
  const all: AuditEvent[] = [];
  let after: number | null = null;
  let seen = 0;
  while (seen < want) {
    const q = new URLSearchParams(base);
    q.set('limit', String(Math.min(5000, want - seen)));
    if (after !== null) q.set('after', String(after));
    if (format === 'jsonl' || format === 'csv') {
      // Page by page, straight to stdout, so a large export never sits in memory.
      q.set('format', format);
      const page = await c.call('GET', `/v1/audit?${q}`);
      if (page.status >= 400) await callJson(c, 'GET', `/v1/audit?${q}`);
      process.stdout.write(page.text);
      seen += page.text.split('\n').filter(Boolean).length;
      const next = page.headers['x-next-after'];
      if (!next) break;
      after = Number(next);
      continue;
    }
    const r: { events: AuditEvent[]; next: number | null } = await callJson(c, 'GET', `/v1/audit?${q}`);
    all.push(...r.events);
    seen = all.length;
    if (r.next === null) break;
    after = r.next;
  }
  if (format === 'json') process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  if (format === 'table') {
    process.stdout.write(
      table(
        all.map((e) => ({ ...e, at: when(e.at), grant: e.grantId ?? e.requestId })),
        ['seq', 'at', 'type', 'actor', 'subject', 'action', 'resource', 'outcome', 'grant', 'reason'],
      ),
    );
  }
}

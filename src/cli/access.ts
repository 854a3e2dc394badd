// Commands for requesters and approvers, and the decision.
import type { Command } from 'commander';
import type { GrantDto, RequestDto } from '../app/views.js';
import { callJson, CliError, type GlobalOptions } from './client.js';
import { print, table } from './output.js';
import { collect, when, withClient } from './run.js';

type G = () => GlobalOptions;

const requestRow = (r: RequestDto) => ({
  id: r.id,
  state: r.state,
  requester: r.requester,
  resources: r.resources,
  actions: r.actions,
  duration: r.duration,
  approvals: r.approvals.length ? r.approvals.map((a) => `${a.have}/${a.count} ${[...a.groups, ...a.users].join('|')}`).join('; ') : 'auto',
  grant: r.grantId,
  created: when(r.createdAt),
  reason: r.reason,
});

const grantRow = (g: GrantDto) => ({
  id: g.id,
  state: g.state,
  subject: g.subject,
  resources: g.resources,
  actions: g.actions,
  starts: when(g.startsAt),
  ends: when(g.endsAt),
  uses: g.maxUses === null ? '-' : `${g.uses}/${g.maxUses}`,
  request: g.requestId,
});

const REQUEST_COLS = ['id', 'state', 'requester', 'resources', 'actions', 'duration', 'approvals', 'grant', 'created', 'reason'];
const GRANT_COLS = ['id', 'state', 'subject', 'resources', 'actions', 'starts', 'ends', 'uses', 'request'];

function describeRequest(r: RequestDto): string {
  const lines = [`request ${r.id} is ${r.state}`];
  if (r.state === 'pending') {
    lines.push(`  waiting for approval: ${r.approvals.map((a) => `${a.count - a.have} more of ${[...a.groups.map((x) => `group ${x}`), ...a.users].join(' or ')}`).join('; ')}`);
    lines.push(`  approvers run: ajar approve ${r.id}`);
  }
  if (r.grantId) lines.push(`  grant ${r.grantId}`);
  if (r.decisionReason && r.state !== 'pending') lines.push(`  ${r.state} by ${r.decidedBy}: ${r.decisionReason}`);
  return `${lines.join('\n')}\n`;
}

export function parseFields(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`--field ${p}: write it as name=value`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export function registerAccessCommands(program: Command, g: G) {
  program
    .command('request')
    .description('request access: ajar request --resource git:payments:release/2.4 --action push --duration 1h --reason "hotfix"')
    .requiredOption('-r, --resource <resource>', 'resource, repeatable (kind:name[:scope])', collect)
    .requiredOption('-a, --action <action>', 'action, repeatable (push, read, deploy, ...)', collect)
    .option('-d, --duration <duration>', 'how long, e.g. 30m, 2h (default: the policy default)')
    .option('--start <time>', 'start later (ISO 8601)')
    .requiredOption('--reason <text>', 'why you need it')
    .option('--ticket <id>', 'a ticket reference')
    .option('--uses <n>', 'end after this many uses', (v) => Number(v))
    .option('--field <name=value>', 'a justification field the policy asks for, repeatable (e.g. incident_id=INC-12)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--break-glass', 'emergency: use a break-glass rule (granted at once, flagged, reviewed afterwards)')
    .option('--artifact <id>', 'bind the approval to one build: a commit id or an image digest (sha256:…)')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson<RequestDto>(c, 'POST', '/v1/requests', {
          ...(o.artifact ? { artifact: o.artifact } : {}),
          resources: o.resource,
          actions: o.action,
          reason: o.reason,
          ...(o.duration ? { duration: o.duration } : {}),
          ...(o.start ? { start: o.start } : {}),
          ...(o.ticket ? { ticket: o.ticket } : {}),
          ...(o.uses !== undefined ? { uses: o.uses } : {}),
          ...(o.breakGlass ? { break_glass: true } : {}),
          ...(o.field ? { fields: parseFields(o.field) } : {}),
        });
        print(o.json, r, () => describeRequest(r));
      }),
    );

  program
    .command('requests [id]')
    .description('list your requests (or one); --review lists those waiting for you; admins see all')
    .option('--state <state>', 'pending, approved, denied, cancelled or expired')
    .option('--review', 'requests you may approve')
    .option('--user <name>', 'requests of this user (admins)')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        if (id) {
          const r = await callJson<RequestDto>(c, 'GET', `/v1/requests/${encodeURIComponent(id)}`);
          return print(o.json, r, () => `${table([requestRow(r)], REQUEST_COLS)}${describeRequest(r)}`);
        }
        const q = new URLSearchParams();
        if (o.state) q.set('state', o.state);
        if (o.review) q.set('review', 'true');
        if (o.user) q.set('requester', o.user);
        const r = await callJson<{ requests: RequestDto[] }>(c, 'GET', `/v1/requests?${q}`);
        print(o.json, r.requests, () => table(r.requests.map(requestRow), REQUEST_COLS));
      }),
    );

  for (const verb of ['approve', 'deny'] as const) {
    program
      .command(`${verb} <id>`)
      .description(verb === 'approve' ? 'approve a request' : 'deny a request (needs --reason)')
      .option('--reason <text>', 'why')
      .option('-d, --duration <duration>', 'approve for less time than asked (approve only)')
      .option('-a, --action <action>', 'approve only these of the actions asked, repeatable (approve only)', collect)
      .option('-r, --resource <resource>', 'approve only these resources, or narrower ones, repeatable (approve only)', collect)
      .option('--json', 'print JSON')
      .action((id, o) =>
        withClient(g(), async (c) => {
          if (verb === 'deny' && !o.reason) throw new CliError('deny needs --reason');
          const body = {
            ...(o.reason ? { reason: o.reason } : {}),
            ...(o.duration ? { duration: o.duration } : {}),
            ...(o.action ? { actions: o.action } : {}),
            ...(o.resource ? { resources: o.resource } : {}),
          };
          const r = await callJson<{ request: RequestDto; changed: boolean }>(c, 'POST', `/v1/requests/${encodeURIComponent(id)}/${verb}`, body);
          print(o.json, r, () => `${r.changed ? '' : 'no change: you had already decided this request\n'}${describeRequest(r.request)}`);
        }),
      );
  }

  program
    .command('cancel <id>')
    .description('cancel your pending request')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        const r = await callJson<RequestDto>(c, 'POST', `/v1/requests/${encodeURIComponent(id)}/cancel`);
        print(o.json, r, () => describeRequest(r));
      }),
    );

  program
    .command('grants [id]')
    .description('list your grants (or one); admins may list anyone\'s')
    .option('--user <name>', 'grants of this user (admins)')
    .option('--state <state>', 'scheduled, active, expired, revoked, released or consumed')
    .option('--resource <pattern>', 'grants touching this resource')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        if (id) {
          const r = await callJson<GrantDto & { reason: string }>(c, 'GET', `/v1/grants/${encodeURIComponent(id)}`);
          return print(o.json, r, () => `${table([grantRow(r)], GRANT_COLS)}reason: ${r.reason}\n${r.endReason ? `ended: ${r.endReason} (by ${r.endedBy})\n` : ''}`);
        }
        const q = new URLSearchParams();
        if (o.user) q.set('subject', o.user);
        if (o.state) q.set('state', o.state);
        if (o.resource) q.set('resource', o.resource);
        const r = await callJson<{ grants: GrantDto[] }>(c, 'GET', `/v1/grants?${q}`);
        print(o.json, r.grants, () => table(r.grants.map(grantRow), GRANT_COLS));
      }),
    );

  program
    .command('release <grant>')
    .description('give up your grant now')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        const r = await callJson<GrantDto>(c, 'POST', `/v1/grants/${encodeURIComponent(id)}/release`);
        print(o.json, r, () => `grant ${r.id} is ${r.state}\n`);
      }),
    );

  program
    .command('extend <grant>')
    .description('ask for more time on a grant (goes through the policy again)')
    .option('-d, --duration <duration>', 'new time from now, e.g. 1h')
    .requiredOption('--reason <text>', 'why')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        const r = await callJson<RequestDto>(c, 'POST', `/v1/grants/${encodeURIComponent(id)}/extend`, { reason: o.reason, ...(o.duration ? { duration: o.duration } : {}) });
        print(o.json, r, () => describeRequest(r));
      }),
    );

  program
    .command('revoke [grant]')
    .description('revoke a grant now, or every grant on a resource (--resource); admins')
    .option('--resource <pattern>', 'revoke every open grant touching this resource (incident response)')
    .option('--reason <text>', 'why')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        if (!id === !o.resource) throw new CliError('name a grant id or --resource PATTERN (not both)');
        if (id) {
          const r = await callJson<GrantDto>(c, 'POST', `/v1/grants/${encodeURIComponent(id)}/revoke`, o.reason ? { reason: o.reason } : {});
          return print(o.json, r, () => `grant ${r.id} is ${r.state}\n`);
        }
        const r = await callJson<{ revoked: GrantDto[] }>(c, 'POST', '/v1/grants/revoke', { resource: o.resource, ...(o.reason ? { reason: o.reason } : {}) });
        print(o.json, r, () => `revoked ${r.revoked.length} grant(s)\n${r.revoked.length ? table(r.revoked.map(grantRow), GRANT_COLS) : ''}`);
      }),
    );

  const bg = program.command('breakglass').description('break-glass grants and their post-hoc reviews (admins)');
  bg.command('list', { isDefault: true })
    .option('--state <state>', 'open (default), closed or all', 'open')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson<{ grants: GrantDto[] }>(c, 'GET', `/v1/breakglass?state=${encodeURIComponent(o.state)}`);
        print(o.json, r.grants, () =>
          table(
            r.grants.map((x) => ({ ...grantRow(x), review: x.review?.open ? 'OPEN' : `closed by ${x.review?.closedBy}` })),
            [...GRANT_COLS, 'review'],
          ),
        );
      }),
    );
  bg.command('close <grant>')
    .description('close the review of a break-glass use (an admin other than its holder)')
    .requiredOption('--note <text>', 'what the review found')
    .option('--json', 'print JSON')
    .action((id, o) =>
      withClient(g(), async (c) => {
        const r = await callJson<GrantDto>(c, 'POST', `/v1/grants/${encodeURIComponent(id)}/review`, { note: o.note });
        print(o.json, r, () => `review of break-glass grant ${r.id} closed by ${r.review?.closedBy}\n`);
      }),
    );

  program
    .command('check')
    .description('may USER do ACTION on RESOURCE now? exit 0 allow, 1 deny, 2 error')
    .requiredOption('--user <name>', 'the subject')
    .requiredOption('--action <action>', 'the action')
    .requiredOption('--resource <resource>', 'the concrete resource')
    .option('--consume', 'count one use of a use-bound grant')
    .option('--artifact <id>', 'the commit or image digest about to be used (a grant bound to another allows nothing)')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson(c, 'POST', '/v1/check', { subject: o.user, action: o.action, resource: o.resource, ...(o.consume ? { consume: true } : {}), ...(o.artifact ? { artifact: o.artifact } : {}) });
        print(o.json, r, () =>
          r.allow
            ? `allow: ${o.user} may ${o.action} ${r.resource} until ${when(r.expiresAt)} (grant ${r.grantId}${r.usesLeft !== null ? `, ${r.usesLeft} use(s) left` : ''})\n`
            : `deny: ${r.reason}\nto ask for it: ${r.request}\n`,
        );
        return r.allow ? 0 : 1;
      }),
    );
}

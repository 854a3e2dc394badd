// `ajar outbox`: notifications waiting, retrying or given up (dead letters),
// events that could not be turned into notifications, and sending them again
// once the cause is fixed — one, or every dead one of a channel. Admins.
import type { Command } from 'commander';
import type { DeliveryDto, OutboxEventDto, OutboxView } from '../notify/outbox-admin.js';
import { CliError, callJson, type GlobalOptions } from './client.js';
import { print, table } from './output.js';
import { when, withClient } from './run.js';

export function registerOutboxCommands(program: Command, g: () => GlobalOptions) {
  const outbox = program.command('outbox').description('notification deliveries not delivered yet: waiting, retrying, dead (admins)');
  outbox
    .command('list', { isDefault: true })
    .description('deliveries not yet delivered (default), or by --state; and events that could not be fanned out')
    .option('--state <state>', 'pending, sending, delivered, dead, failed (retrying after an error) or all')
    .option('--limit <n>', 'at most this many, newest first', '100')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const q = new URLSearchParams({ limit: String(o.limit) });
        if (o.state) q.set('state', o.state);
        const r = await callJson<OutboxView>(c, 'GET', `/v1/outbox?${q}`);
        print(o.json, r, () => {
          const rows = r.deliveries.map((d) => ({ ...d, createdAt: when(d.createdAt), nextAttemptAt: d.nextAttemptAt ? when(d.nextAttemptAt) : '', lastError: d.lastError ?? '' }));
          const head = r.undelivered ? `${r.undelivered} event(s) not yet fanned out\n` : '';
          const events = r.events.length
            ? `events that could not be turned into notifications (ajar outbox retry EVENT once fixed):\n${table(
                r.events.map((e) => ({ ...e, createdAt: when(e.createdAt), lastError: e.lastError ?? '' })),
                ['eventId', 'event', 'state', 'attempts', 'createdAt', 'lastError'],
              )}\n`
            : '';
          return `${head}${events}${rows.length ? table(rows, ['id', 'event', 'channel', 'target', 'state', 'attempts', 'nextAttemptAt', 'lastError']) : 'nothing waiting\n'}`;
        });
      }),
    );
  outbox
    .command('retry [id]')
    .description('send a dead (or waiting) delivery again now, fan out again a failed event (evt_…), or with --state dead every dead delivery')
    .option('--state <state>', 'dead: every dead delivery (instead of one id)')
    .option('--channel <channel>', 'with --state: only this channel (slack, email, jira, webhook:NAME, or webhook for every endpoint)')
    .option('--json', 'print JSON')
    .action((id: string | undefined, o) =>
      withClient(g(), async (c) => {
        if (id !== undefined && o.state !== undefined) throw new CliError('give a delivery id or --state dead, not both');
        if (id === undefined) {
          if (o.state !== 'dead') throw new CliError('give a delivery id, or --state dead (with --channel C) to retry every dead delivery');
          const r = await callJson<{ retried: number }>(c, 'POST', '/v1/outbox/retry', { state: 'dead', ...(o.channel ? { channel: o.channel } : {}) });
          print(o.json, r, () => `${r.retried} dead deliver${r.retried === 1 ? 'y' : 'ies'}${o.channel ? ` of ${o.channel}` : ''} will be sent again\n`);
          return;
        }
        if (o.channel !== undefined) throw new CliError('--channel goes with --state dead');
        const r = await callJson<DeliveryDto | OutboxEventDto>(c, 'POST', `/v1/outbox/${encodeURIComponent(id)}/retry`);
        print(o.json, r, () => ('id' in r ? `${r.id} will be sent again (${r.channel} → ${r.target})\n` : `${r.eventId} will be fanned out again\n`));
      }),
    );
}

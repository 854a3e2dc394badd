// `ajar outbox`: notifications waiting, retrying or given up (dead letters), and
// sending a dead one again once its cause is fixed. Admins.
import type { Command } from 'commander';
import type { DeliveryDto } from '../notify/outbox.js';
import { callJson, type GlobalOptions } from './client.js';
import { print, table } from './output.js';
import { when, withClient } from './run.js';

export function registerOutboxCommands(program: Command, g: () => GlobalOptions) {
  const outbox = program.command('outbox').description('notification deliveries not delivered yet: waiting, retrying, dead (admins)');
  outbox
    .command('list', { isDefault: true })
    .description('deliveries not yet delivered (default), or by --state')
    .option('--state <state>', 'pending, sending, delivered, dead, failed (retrying after an error) or all')
    .option('--limit <n>', 'at most this many, newest first', '100')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const q = new URLSearchParams({ limit: String(o.limit) });
        if (o.state) q.set('state', o.state);
        const r = await callJson<{ undelivered: number; deliveries: DeliveryDto[] }>(c, 'GET', `/v1/outbox?${q}`);
        print(o.json, r, () => {
          const rows = r.deliveries.map((d) => ({ ...d, createdAt: when(d.createdAt), nextAttemptAt: d.nextAttemptAt ? when(d.nextAttemptAt) : '', lastError: d.lastError ?? '' }));
          const head = r.undelivered ? `${r.undelivered} event(s) not yet fanned out\n` : '';
          return `${head}${rows.length ? table(rows, ['id', 'event', 'channel', 'target', 'state', 'attempts', 'nextAttemptAt', 'lastError']) : 'nothing waiting\n'}`;
        });
      }),
    );
  outbox
    .command('retry <id>')
    .description('send a dead (or waiting) delivery again now')
    .option('--json', 'print JSON')
    .action((id: string, o) =>
      withClient(g(), async (c) => {
        const r = await callJson<DeliveryDto>(c, 'POST', `/v1/outbox/${encodeURIComponent(id)}/retry`);
        print(o.json, r, () => `${r.id} will be sent again (${r.channel} → ${r.target})\n`);
      }),
    );
}

// `ajar credentials postgres --target T`: a login role for your active grant.
import type { Command } from 'commander';
import type { PostgresCredential } from '../app/credentials.js';
import { callJson, type GlobalOptions } from './client.js';
import { print } from './output.js';
import { withClient } from './run.js';

export function registerCredentialCommands(program: Command, g: () => GlobalOptions) {
  const cred = program.command('credentials').description('short-lived credentials minted for an active grant');
  cred
    .command('postgres')
    .description('a PostgreSQL login role for your active connect grant; the password is shown once; the role is dropped when the grant ends')
    .requiredOption('--target <resource>', 'e.g. postgres:orders-prod')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson<PostgresCredential>(c, 'POST', '/v1/credentials/postgres', { target: o.target });
        print(o.json, r, () =>
          `user ${r.username} (member of ${r.role}) until ${r.expiresAt}\npassword ${r.password}\n` +
          `psql "host=${r.host} port=${r.port} dbname=${r.database} user=${r.username}"   # the password is shown only once\n`,
        );
      }),
    );
}

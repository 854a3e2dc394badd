// `ajar credentials postgres --target T`: a login role for your active grant.
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import type { PostgresCredential } from '../app/credentials.js';
import type { SshCertificate } from '../app/ssh-certificates.js';
import { CliError, callJson, type GlobalOptions } from './client.js';
import { print } from './output.js';
import { withClient } from './run.js';

export function registerCredentialCommands(program: Command, g: () => GlobalOptions) {
  program
    .command('ssh-cert')
    .description("an SSH certificate for your active login grant: your public key signed by Ajar's CA, valid exactly for the grant's window")
    .requiredOption('--target <resource>', 'e.g. ssh:web-prod')
    .requiredOption('--pubkey <file>', 'your public key, e.g. ~/.ssh/id_ed25519.pub')
    .option('--out <file>', 'where to write the certificate (default: next to the key, <key>-cert.pub, where ssh finds it)')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        let publicKey: string;
        try {
          publicKey = readFileSync(o.pubkey, 'utf8');
        } catch {
          throw new CliError(`cannot read ${o.pubkey}`);
        }
        const r = await callJson<SshCertificate>(c, 'POST', '/v1/credentials/ssh', { target: o.target, public_key: publicKey });
        const out = o.out ?? o.pubkey.replace(/\.pub$/, '') + '-cert.pub';
        writeFileSync(out, r.certificate, { mode: 0o644 });
        print(o.json, { ...r, file: out }, () => `wrote ${out}: principals ${r.principals.join(', ')}, valid ${r.validAfter} to ${r.validBefore} (serial ${r.serial})\n`);
      }),
    );

  const cred = program.command('credentials').description('short-lived credentials minted for an active grant');
  cred
    .command('token')
    .description('a signed access token (JWT) for your active grant, expiring with it; verify with /.well-known/jwks.json')
    .requiredOption('--resource <resource>', 'e.g. env:payments:production')
    .requiredOption('--action <action>', 'e.g. deploy')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson<{ token: string; expiresAt: string }>(c, 'POST', '/v1/credentials/token', { resource: o.resource, action: o.action });
        print(o.json, r, () => `${r.token}\n`);
        if (!o.json) process.stderr.write(`expires ${r.expiresAt}\n`);
      }),
    );
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

// `ajar secret`: pipeline secrets. Admins set them (value on standard input,
// never an argument); a pipeline with an active read-secrets grant gets them.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { shellWord } from '../domain/decide.js';
import { callJson, CliError, type GlobalOptions } from './client.js';
import { print, table } from './output.js';
import { maskInCi } from './pipeline.js';
import { when, withClient } from './run.js';

export function registerSecretCommands(program: Command, g: () => GlobalOptions) {
  const secret = program.command('secret').description('pipeline secrets of an environment (env:<app>:<env>)');
  secret
    .command('set <resource> <name>')
    .description('store a secret (admins); the value is read from standard input, never from the command line')
    .option('--json', 'print JSON')
    .action((resource: string, name: string, o) =>
      withClient(g(), async (c) => {
        const value = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
        if (!value) throw new CliError('no value on standard input');
        const r = await callJson(c, 'POST', '/v1/secrets', { resource, name, value });
        print(o.json, r, () => `stored ${name} for ${r.resource}\n`);
      }),
    );
  secret
    .command('list <resource>')
    .description('the names of the secrets of an environment (admins); never their values')
    .option('--json', 'print JSON')
    .action((resource: string, o) =>
      withClient(g(), async (c) => {
        const r = await callJson<{ secrets: { name: string; updatedAt: string; updatedBy: string }[] }>(c, 'GET', `/v1/secrets?resource=${encodeURIComponent(resource)}`);
        print(o.json, r.secrets, () => table(r.secrets.map((s) => ({ ...s, updatedAt: when(s.updatedAt) })), ['name', 'updatedAt', 'updatedBy']));
      }),
    );
  secret
    .command('reseal')
    .description('after a key rotation (secrets.key_env new, the old key in secrets.old_key_envs): seal every secret with the current key (admins)')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(g(), async (c) => {
        const r = await callJson<{ resealed: number; keyId: string }>(c, 'POST', '/v1/secrets/reseal', {});
        print(o.json, r, () => `resealed ${r.resealed} secret(s) with key ${r.keyId}\n`);
      }),
    );
  secret
    .command('get <resource> [names...]')
    .description('the secrets (or the named ones) for your active read-secrets grant: one value, or NAME=value lines for eval')
    .option('--format <format>', 'value (one secret), env (export NAME=value lines) or json', 'env')
    .option('--artifact <id>', 'the build being deployed, when the grant is bound to one')
    .action((resource: string, names: string[], o) =>
      withClient(g(), async (c) => {
        const r = await callJson<{ secrets: Record<string, string> }>(c, 'POST', '/v1/secrets/read', { resource, ...(names.length ? { names } : {}), ...(o.artifact ? { artifact: o.artifact } : {}) });
        maskInCi(Object.values(r.secrets));
        if (o.format === 'json') process.stdout.write(`${JSON.stringify(r.secrets)}\n`);
        else if (o.format === 'value') {
          const values = Object.values(r.secrets);
          if (values.length !== 1) throw new CliError('--format value needs exactly one secret name');
          process.stdout.write(values[0]!);
        } else for (const [k, v] of Object.entries(r.secrets)) process.stdout.write(`export ${k}=${shellWord(v)}\n`);
      }),
    );
}

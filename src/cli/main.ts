#!/usr/bin/env node
// The `ajar` command.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerAccessCommands } from './access.js';
import { registerAdminCommands } from './admin.js';
import { registerCredentialCommands } from './credentials.js';
import { registerGateCommand } from './gate.js';
import { registerSecretCommands } from './secrets.js';
import { registerOutboxCommands } from './outbox.js';
import { registerGitCommands } from './git.js';
import { checkConfigFile, registerPolicyCommands } from './policy.js';
import { CliError, dataDirOf, type GlobalOptions } from './client.js';
import { print } from './output.js';
import { fail } from './run.js';

const program = new Command();
program
  .name('ajar')
  .description('Just-in-time access for Git and Mercurial branches, pipelines and production systems')
  .version(VERSION)
  .option('--config <file>', 'config file (or AJAR_CONFIG); used by serve and by admin commands on the server host')
  .option('--data-dir <dir>', 'data directory of the embedded database (or AJAR_DATA_DIR)', undefined)
  .option('--local', 'talk to the server on this host as its admin, even if AJAR_URL is set')
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

program
  .command('serve')
  .description('run the API and the workers; PostgreSQL when DATABASE_URL is set, else the embedded database')
  .option('--port <n>', 'port to listen on (default: config server.port)', (v) => Number(v))
  .option('--host <host>', 'address to listen on (default: config server.host)')
  .action(async (o) => {
    const g = globals();
    const configFile = g.config || process.env.AJAR_CONFIG;
    // The server's code is loaded by the commands that need it, not by every command.
    const [{ ConfigError }, { serve }] = await Promise.all([import('../config.js'), import('../main.js')]);
    try {
      if (!configFile) throw new CliError('serve needs a config file: --config FILE or AJAR_CONFIG (try examples/ajar.yaml)');
      const server = await serve({ configFile, dataDir: dataDirOf(g), databaseUrl: process.env.DATABASE_URL, port: o.port, host: o.host });
      const stop = () => {
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Only now: whoever waits for this line may stop us at once, and a SIGTERM before the
      // handler is in place would kill the process in the middle of a sweep.
      process.stdout.write(`ajar listening on ${server.url}\n`);
    } catch (e) {
      if (e instanceof ConfigError) process.stderr.write(`ajar: ${e.message}\n`);
      else fail(e);
      process.exit(2);
    }
  });

const db = program.command('db').description('database administration');
db.command('migrate')
  .description('apply schema migrations (PostgreSQL from DATABASE_URL, else the embedded database)')
  .option('--json', 'print JSON')
  .action(async (o) => {
    try {
      const [{ openDatabase }, { migrate }] = await Promise.all([import('../store/database.js'), import('../store/migrations.js')]);
      const database = await openDatabase({ url: process.env.DATABASE_URL, dataDir: dataDirOf(globals()) });
      try {
        const done = await migrate(database.db);
        print(o.json, { applied: done, database: database.describe }, () =>
          done.length ? `applied ${done.join(', ')} to ${database.describe}\n` : `${database.describe} is up to date\n`,
        );
      } finally {
        await database.close();
      }
      process.exit(0);
    } catch (e) {
      process.exit(fail(e));
    }
  });
db.command('status')
  .description('list migrations not yet applied; exit 1 if any')
  .option('--json', 'print JSON')
  .action(async (o) => {
    try {
      const [{ openDatabase }, { pendingMigrations }] = await Promise.all([import('../store/database.js'), import('../store/migrations.js')]);
      const database = await openDatabase({ url: process.env.DATABASE_URL, dataDir: dataDirOf(globals()) });
      try {
        const pending = await pendingMigrations(database.db);
        print(o.json, { pending }, () => (pending.length ? `pending: ${pending.join(', ')}\n` : 'up to date\n'));
        process.exit(pending.length ? 1 : 0);
      } finally {
        await database.close();
      }
    } catch (e) {
      process.exit(fail(e));
    }
  });

program
  .command('config')
  .description('config file tools')
  .command('check <file>')
  .description('validate a config file; errors name file:line:col')
  .option('--json', 'print JSON')
  .action(checkConfigFile);

registerAccessCommands(program, globals);
registerAdminCommands(program, globals);
registerPolicyCommands(program, globals);
registerGitCommands(program);
registerGateCommand(program, globals);
registerCredentialCommands(program, globals);
registerSecretCommands(program, globals);
registerOutboxCommands(program, globals);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
    process.exit(2);
  }
  process.exit(fail(e));
}

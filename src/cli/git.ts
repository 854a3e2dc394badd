// Git commands: the credential helper for users, the hook installer and the SSH
// forced command for operators.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runSshCommand } from '../gateway/ssh-command.js';
import { installGitHook, USER_VARS } from '../hooks/install-git.js';
import { installHgHook } from '../hooks/install-hg.js';
import { CliError } from './client.js';
import { runCredentialHelper } from './credential.js';
import { print } from './output.js';
import { fail } from './run.js';

export function registerGitCommands(program: Command) {
  program
    .command('credential <operation>')
    .description('git credential helper: git config --global credential.helper "ajar credential"')
    .action(async (operation: string) => process.exit(await runCredentialHelper(operation)));

  program
    .command('install-hook <kind> <repo-path>')
    .description('hook mode: put Ajar\'s server hook in a repository served by something else (kind: git or hg)')
    .requiredOption('--url <url>', 'the Ajar server the hook asks')
    .requiredOption('--token-file <file>', 'file holding a hook account\'s API token (config git.hook_accounts or hg.hook_accounts)')
    .option('--user-var <name>', `variable naming the pusher: a name, or ${Object.entries(USER_VARS).map(([k, v]) => `${k} (${v})`).join(', ')}`, 'http')
    .option('--repo <name>', 'the repository\'s name in Ajar (git:<name> or hg:<name>); default: the directory name without .git')
    .option('--json', 'print JSON')
    .action((kind: string, repoPath: string, o) => {
      try {
        if (kind !== 'git' && kind !== 'hg') throw new CliError(`install-hook ${kind}: say git or hg`);
        const name = o.repo ?? resolve(repoPath).split('/').pop()!.replace(/\.git$/, '');
        const args = { repoPath, url: o.url, tokenFile: o.tokenFile, userVar: USER_VARS[o.userVar] ?? o.userVar, repo: name };
        if (kind === 'hg') {
          const r = installHgHook(args);
          print(o.json, { ...r, repo: name }, () => `${r.replaced ? 'updated' : 'installed'} Ajar's hook in ${r.hgrc} for hg:${name}\n`);
        } else {
          const r = installGitHook(args);
          print(o.json, { ...r, repo: name }, () => `installed ${r.hook} for git:${name}${r.kept ? `; the hook that was there runs after Ajar allows (${r.kept})` : ''}\n`);
        }
        process.exit(0);
      } catch (e) {
        process.exit(fail(e));
      }
    });

  program
    .command('ssh-command <user>')
    .description('SSH mode: an authorized_keys forced command, command="ajar ssh-command USER --root DIR --url URL --token-file FILE"')
    .requiredOption('--root <dir>', 'the directory holding the repositories (<root>/<name>.git for git, <root>/<name> for hg)')
    .option('--url <url>', 'the Ajar server (default AJAR_URL)')
    .option('--token-file <file>', 'file with a hook account\'s API token (default AJAR_TOKEN_FILE)')
    .option('--python <path>', 'for Mercurial: the Python that has it (default: the one hg runs with)')
    .action(async (user: string, o) => {
      try {
        const url = o.url ?? process.env.AJAR_URL;
        const tokenFile = o.tokenFile ?? process.env.AJAR_TOKEN_FILE;
        if (!url || !tokenFile) throw new CliError('ssh-command needs --url and --token-file (or AJAR_URL and AJAR_TOKEN_FILE)');
        let token: string;
        try {
          token = readFileSync(tokenFile, 'utf8').trim();
        } catch {
          throw new CliError('cannot read the hook account token file; refused');
        }
        process.exit(await runSshCommand({ user, root: o.root, url, token, command: process.env.SSH_ORIGINAL_COMMAND, protocol: process.env.GIT_PROTOCOL, python: o.python }));
      } catch (e) {
        process.exit(fail(e) && 1);
      }
    });
}


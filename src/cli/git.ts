// Git commands: the credential helper for users, the hook installer and the SSH
// forced command for operators.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runSshCommand } from '../gateway/git/ssh-command.js';
import { installGitHook, USER_VARS } from '../hooks/install-git.js';
import { callJson, CliError, readLogin, remoteClient, remoteSettings } from './client.js';
import { print } from './output.js';
import { fail } from './run.js';

export function registerGitCommands(program: Command) {
  program
    .command('credential <operation>')
    .description('git credential helper: git config --global credential.helper "ajar credential"')
    .action(async (operation: string) => {
      // git asks `get`, then says `store` or `erase`; Ajar's token is kept by `ajar login`.
      if (operation !== 'get') process.exit(0);
      try {
        process.stdout.write(await credentialFor(readFileSync(0, 'utf8')));
        process.exit(0);
      } catch (e) {
        // Say nothing to git (it then asks the next helper or the terminal), but tell the user why.
        process.stderr.write(`ajar credential: ${(e as Error).message}\n`);
        process.exit(0);
      }
    });

  program
    .command('install-hook <kind> <repo-path>')
    .description('hook mode: put Ajar\'s pre-receive hook in a repository served by another git server (kind: git)')
    .requiredOption('--url <url>', 'the Ajar server the hook asks')
    .requiredOption('--token-file <file>', 'file holding a hook account\'s API token (config git.hook_accounts)')
    .option('--user-var <name>', `variable naming the pusher: a name, or ${Object.entries(USER_VARS).map(([k, v]) => `${k} (${v})`).join(', ')}`, 'http')
    .option('--repo <name>', 'the repository\'s name in Ajar (git:<name>); default: the directory name without .git')
    .option('--json', 'print JSON')
    .action((kind: string, repoPath: string, o) => {
      try {
        if (kind !== 'git') throw new CliError(`install-hook ${kind}: only "git" here (Mercurial hooks: see docs)`);
        const name = o.repo ?? resolve(repoPath).split('/').pop()!.replace(/\.git$/, '');
        const r = installGitHook({ repoPath, url: o.url, tokenFile: o.tokenFile, userVar: USER_VARS[o.userVar] ?? o.userVar, repo: name });
        print(o.json, { ...r, repo: name }, () => `installed ${r.hook} for git:${name}${r.kept ? `; the hook that was there runs after Ajar allows (${r.kept})` : ''}\n`);
        process.exit(0);
      } catch (e) {
        process.exit(fail(e));
      }
    });

  program
    .command('ssh-command <user>')
    .description('SSH mode: an authorized_keys forced command, command="ajar ssh-command USER --root DIR --url URL --token-file FILE"')
    .requiredOption('--root <dir>', 'the directory holding the repositories (<root>/<name>.git)')
    .option('--url <url>', 'the Ajar server (default AJAR_URL)')
    .option('--token-file <file>', 'file with a hook account\'s API token (default AJAR_TOKEN_FILE)')
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
        process.exit(await runSshCommand({ user, root: o.root, url, token, command: process.env.SSH_ORIGINAL_COMMAND, protocol: process.env.GIT_PROTOCOL }));
      } catch (e) {
        process.exit(fail(e) && 1);
      }
    });
}

/**
 * git's credential protocol: key=value lines in, username/password out — only
 * for the Ajar server the user logged in to (same scheme, host and port), never
 * for another host.
 */
async function credentialFor(input: string): Promise<string> {
  const attrs = new Map<string, string>();
  for (const line of input.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) attrs.set(line.slice(0, i), line.slice(i + 1));
  }
  const settings = remoteSettings();
  if (!settings) return '';
  const ajar = new URL(settings.url);
  const asked = `${attrs.get('protocol')}://${attrs.get('host')}`;
  if (`${ajar.protocol.replace(/:$/, '')}://${ajar.host}` !== asked) return '';
  const login = readLogin();
  const user =
    !process.env.AJAR_TOKEN && login?.user ? login.user : ((await callJson(remoteClient(settings.url, settings.token), 'GET', '/v1/whoami')) as { name: string }).name;
  return `username=${user}\npassword=${settings.token}\n`;
}

// Hook mode: `ajar install-hook git REPO_PATH` puts Ajar's pre-receive hook in a
// repository served by something else (nginx/Apache git-http-backend, GitLab,
// Gitea, Gitolite). The hook asks a remote Ajar over HTTP as a hook account and
// names the pusher from the host's variable. A hook already there is kept and
// run after Ajar allows.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { shellWord } from '../domain/decide.js';

export const HOOK_SCRIPT = resolve(import.meta.dirname, 'git-pre-receive.js');
const MARK = '# installed by ajar install-hook git';

/** Pusher variables of common git servers. */
export const USER_VARS: Record<string, string> = {
  http: 'REMOTE_USER',
  gitlab: 'GL_USERNAME',
  gitea: 'GITEA_PUSHER_NAME',
  gitolite: 'GL_USER',
};

export interface InstallGitHook {
  repoPath: string;
  url: string;
  tokenFile: string;
  userVar: string;
  repo: string;
}

/** Install (or update) the hook; returns where it was written and what was kept. */
export function installGitHook(o: InstallGitHook): { hook: string; kept: string | undefined } {
  let hook: string;
  try {
    // Where git looks for this repository's pre-receive (respects core.hooksPath).
    hook = execFileSync('git', ['rev-parse', '--git-path', 'hooks/pre-receive'], { cwd: o.repoPath, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    throw new Error(`${o.repoPath} is not a git repository`);
  }
  if (!isAbsolute(hook)) hook = resolve(o.repoPath, hook);
  if (!/^https?:\/\/[^\s/]+/.test(o.url)) throw new Error(`--url ${o.url}: give the Ajar server's URL, e.g. https://ajar.example.com`);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.userVar)) throw new Error(`--user-var ${o.userVar}: not an environment variable name`);
  if (!existsSync(o.tokenFile)) throw new Error(`--token-file ${o.tokenFile} does not exist; put a hook account's token there (ajar token create --user ACCOUNT)`);
  let kept: string | undefined;
  if (existsSync(hook) && !readFileSync(hook, 'utf8').includes(MARK)) {
    kept = `${hook}.before-ajar`;
    if (existsSync(kept)) throw new Error(`${hook} exists and so does ${kept}; move one of them away first`);
    renameSync(hook, kept);
  }
  mkdirSync(dirname(hook), { recursive: true });
  const args = ['--url', o.url, '--token-file', resolve(o.tokenFile), '--user-var', o.userVar, '--repo', o.repo];
  writeFileSync(
    hook,
    `#!/bin/sh\n${MARK}: every pushed ref is decided by Ajar at ${o.url};\n# a hook that was here before runs after Ajar allows (pre-receive.before-ajar).\nexec ${[process.execPath, HOOK_SCRIPT, ...args].map(shellWord).join(' ')}\n`,
  );
  chmodSync(hook, 0o755);
  return { hook, kept };
}

// SSH mode: `ajar ssh-command USER` as an authorized_keys forced command. sshd
// puts what the client asked for in SSH_ORIGINAL_COMMAND; exactly two shapes
// are accepted, the repository path is canonicalised, Ajar decides, and git is
// run with an argument array (never a shell).
import { spawn } from 'node:child_process';
import type { GitService } from '../../app/git.js';
import { repoNameProblem } from '../../domain/git.js';
import { gitEnv, repoDir, validGitProtocol } from './repo.js';

export type SshGitCommand = { ok: true; service: GitService; repo: string } | { ok: false; message: string };

/**
 * `git-upload-pack '<repo>'` or `git-receive-pack '<repo>'` (also `git upload-pack`),
 * with the path single-quoted as git sends it. A leading `/` and a trailing `.git`
 * are dropped; what is left must be a plain repository name.
 */
export function parseSshCommand(command: string | undefined): SshGitCommand {
  const refuse = { ok: false as const, message: 'this key only runs git fetch and push (git-upload-pack or git-receive-pack on a repository)' };
  if (!command || command.length > 1024) return refuse;
  const m = /^git[ -](upload-pack|receive-pack) '([^'\x00-\x1f\x7f]+)'$/.exec(command);
  if (!m) return refuse;
  let path = m[2]!;
  if (path.startsWith('/')) path = path.slice(1);
  if (path.endsWith('/')) path = path.slice(0, -1);
  if (path.endsWith('.git')) path = path.slice(0, -'.git'.length);
  if (repoNameProblem(path)) return refuse;
  return { ok: true, service: `git-${m[1]}` as GitService, repo: path };
}

export interface SshCommandOptions {
  user: string;
  root: string;
  url: string;
  token: string;
  command: string | undefined;
  protocol: string | undefined;
}

type Authorize = { allow: true; session?: string } | { allow: false; lines: string[] };

/** Run the forced command; resolves to the exit code. Anything unclear refuses. */
export async function runSshCommand(o: SshCommandOptions): Promise<number> {
  const say = (lines: string[]) => process.stderr.write(lines.map((l) => `ajar: ${l}\n`).join(''));
  const cmd = parseSshCommand(o.command);
  if (!cmd.ok) {
    say([cmd.message]);
    return 1;
  }
  if (o.protocol !== undefined && !validGitProtocol(o.protocol)) {
    say(['GIT_PROTOCOL is not valid']);
    return 1;
  }
  const dir = repoDir(o.root, cmd.repo);
  let answer: Authorize;
  try {
    const res = await fetch(`${o.url.replace(/\/+$/, '')}/v1/git/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: o.user, repo: cmd.repo, service: cmd.service, exists: dir !== undefined }),
      signal: AbortSignal.timeout(30_000),
    });
    const j = (await res.json().catch(() => ({}))) as Authorize & { error?: { message?: string } };
    if (!res.ok) {
      say([`Ajar refused the question (HTTP ${res.status}: ${j.error?.message ?? 'no message'}); refused`]);
      return 1;
    }
    answer = j;
  } catch (e) {
    say([`cannot reach Ajar to decide (${(e as Error).message}); refused (Ajar fails closed)`]);
    return 1;
  }
  if (!answer.allow || !dir) {
    say(answer.allow ? ['refused'] : answer.lines);
    return 1;
  }
  const env = gitEnv({ protocol: o.protocol, hook: answer.session ? { url: o.url, session: answer.session, repo: cmd.repo } : undefined });
  // --strict: upload-pack takes the directory as given, never trying <dir>/.git.
  const args = cmd.service === 'git-upload-pack' ? ['upload-pack', '--strict', '--', dir] : ['receive-pack', '--', dir];
  const child = spawn('git', args, { env, stdio: 'inherit', shell: false });
  return new Promise((done) => {
    child.on('error', (e) => {
      say([`cannot run git: ${e.message}`]);
      done(1);
    });
    child.on('close', (code) => done(code ?? 1));
  });
}

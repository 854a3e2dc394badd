// SSH mode: `ajar ssh-command USER` as an authorized_keys forced command. sshd
// puts what the client asked for in SSH_ORIGINAL_COMMAND; exactly git's two
// commands and Mercurial's `hg -R <repo> serve --stdio` are accepted, the repository path is canonicalised, Ajar decides, and git is
// run with an argument array (never a shell).
import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { GitService } from '../app/git.js';
import { repoNameProblem } from '../domain/git.js';
import { gitEnv, hooksDirFor, validGitProtocol } from './git/repo.js';
import { findHgPython, HG_HOOKS_DIR, hgEnv } from './hg/hgweb-worker.js';
import { servedRepoDir } from './repo-dir.js';

const HG_SERVE_SCRIPT = resolve(HG_HOOKS_DIR, 'ajar_hgserve.py');

export type SshCommand =
  | { ok: true; vcs: 'git'; service: GitService; repo: string }
  | { ok: true; vcs: 'hg'; repo: string }
  | { ok: false; message: string };

/** A leading `/` and a trailing `/` or `.git` are dropped; what is left must be a plain repository name. */
function repoOf(path: string, git: boolean): string | undefined {
  let p = path;
  if (p.startsWith('/')) p = p.slice(1);
  if (p.endsWith('/')) p = p.slice(0, -1);
  if (git && p.endsWith('.git')) p = p.slice(0, -'.git'.length);
  return repoNameProblem(p) ? undefined : p;
}

/**
 * Exactly `git-upload-pack '<repo>'` or `git-receive-pack '<repo>'` (also `git upload-pack`),
 * with the path single-quoted as git sends it, or exactly `hg -R <repo> serve --stdio`
 * (the path bare or single-quoted, as hg sends it) — nothing else, no extra options.
 */
export function parseSshCommand(command: string | undefined): SshCommand {
  const refuse = { ok: false as const, message: 'this key only runs git fetch and push (git-upload-pack or git-receive-pack on a repository) and hg -R <repository> serve --stdio' };
  if (!command || command.length > 1024) return refuse;
  const g = /^git[ -](upload-pack|receive-pack) '([^'\x00-\x1f\x7f]+)'$/.exec(command);
  if (g) {
    const repo = repoOf(g[2]!, true);
    return repo ? { ok: true, vcs: 'git', service: `git-${g[1]}` as GitService, repo } : refuse;
  }
  const h = /^hg -R (?:'([^'\x00-\x1f\x7f]+)'|([A-Za-z0-9_./-]+)) serve --stdio$/.exec(command);
  if (h) {
    const repo = repoOf(h[1] ?? h[2]!, false);
    return repo ? { ok: true, vcs: 'hg', repo } : refuse;
  }
  return refuse;
}

export interface SshCommandOptions {
  user: string;
  root: string;
  url: string;
  token: string;
  command: string | undefined;
  protocol: string | undefined;
  /** the Python that has Mercurial, for hg sessions (default: the one hg runs with) */
  python?: string | undefined;
}

type Authorize = { allow: true; session?: string; write?: boolean } | { allow: false; lines: string[] };

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
  const dir = servedRepoDir(cmd.vcs, o.root, cmd.repo);
  let answer: Authorize;
  try {
    const question = cmd.vcs === 'git' ? { user: o.user, repo: cmd.repo, service: cmd.service } : { user: o.user, repo: cmd.repo };
    const res = await fetch(`${o.url.replace(/\/+$/, '')}/v1/${cmd.vcs}/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...question, exists: dir !== undefined }),
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
  let command: string;
  let args: string[];
  let env: Record<string, string>;
  if (cmd.vcs === 'git') {
    env = gitEnv({ protocol: o.protocol, hook: answer.session ? { url: o.url, session: answer.session, repo: cmd.repo } : undefined, hooksDir: answer.session ? hooksDirFor(dir) : undefined });
    command = 'git';
    // --strict: upload-pack takes the directory as given, never trying <dir>/.git.
    args = cmd.service === 'git-upload-pack' ? ['upload-pack', '--strict', '--', dir] : ['receive-pack', '--', dir];
  } else {
    // Mercurial's own ssh server, with Ajar's settings forced on the repository;
    // its hooks ask Ajar about every change.
    // HOME: the SSH account's own (never a shared directory: Mercurial runs what ~/.hgrc says).
    const home = process.env.HOME || userInfo().homedir;
    command = findHgPython(o.python, home);
    args = [HG_SERVE_SCRIPT, dir];
    env = hgEnv(home, {
      AJAR_HG_USER: o.user,
      AJAR_HG_REPO: cmd.repo,
      AJAR_HOOK_URL: o.url,
      // Every reader gets a session, and the hook asks Ajar about each change; without one
      // (an older Ajar answering) every transaction is refused outright.
      AJAR_HG_READONLY: answer.session ? '0' : '1',
      AJAR_HG_READONLY_WHY: `${o.user} has no active grant to change hg:${cmd.repo}; ask with: ajar request --resource hg:${cmd.repo}:BRANCH_OR_@BOOKMARK --action push ...`,
      ...(answer.session ? { AJAR_PUSH_SESSION: answer.session } : {}),
    });
  }
  const child = spawn(command, args, { env, stdio: 'inherit', shell: false });
  return new Promise((done) => {
    child.on('error', (e) => {
      say([`cannot run ${command}: ${e.message}`]);
      done(1);
    });
    child.on('close', (code) => done(code ?? 1));
  });
}

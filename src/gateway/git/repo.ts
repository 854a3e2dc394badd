// Where a repository lives and how git is run on it: the one place that turns a
// name from a URL or an SSH command into a directory, and the curated
// environment every git child process gets.
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { servedRepoDir } from '../repo-dir.js';

/** Ajar's own hooks (pre-receive decides; the others hand on to the repository's own). */
export const GIT_HOOKS_DIR = resolve(import.meta.dirname, '..', '..', '..', 'hooks', 'git');
/** Ajar's pre-receive alone, for a repository with no update/post-receive/post-update of its own: three processes fewer per push. */
export const GIT_DECIDE_ONLY_HOOKS_DIR = resolve(import.meta.dirname, '..', '..', '..', 'hooks', 'git-decide-only');

const HANDED_ON = ['update', 'post-receive', 'post-update'];
/** The decide-only directory's pre-receive reads hooks/git/pre-receive into its shell; without it every push gets all hooks. */
const DECIDE_ONLY_PRESENT = executable(join(GIT_DECIDE_ONLY_HOOKS_DIR, 'pre-receive'));

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The hooks directory for a push into `repoDir`: with the hand-on hooks only when the repository has one of its own. */
export function hooksDirFor(repoDir: string): string {
  const own = HANDED_ON.some((h) => executable(join(repoDir, 'hooks', h)));
  return own || !DECIDE_ONLY_PRESENT ? GIT_HOOKS_DIR : GIT_DECIDE_ONLY_HOOKS_DIR;
}

/** The directory of a served bare repository, `<root>/<name>.git`, or undefined. */
export function repoDir(root: string, name: string): string | undefined {
  return servedRepoDir('git', root, name);
}

/** `Git-Protocol` / GIT_PROTOCOL: colon-separated key[=value] pairs, e.g. `version=2`. */
export function validGitProtocol(value: string): boolean {
  return value.length <= 256 && /^[A-Za-z0-9._-]+(=[A-Za-z0-9._-]+)?(:[A-Za-z0-9._-]+(=[A-Za-z0-9._-]+)?)*$/.test(value);
}

export interface GitEnvOptions {
  /** for pushes: where the pre-receive hook asks, and the session it presents */
  hook?: { url: string; session: string; repo: string } | undefined;
  /** the hooks directory (default: all of Ajar's hooks) */
  hooksDir?: string | undefined;
  protocol?: string | undefined;
  extra?: Record<string, string>;
}

/**
 * The environment of a git child process: nothing inherited but PATH (so the
 * hook finds node and git), no system or global git config, and Ajar's hooks
 * forced in with GIT_CONFIG_* (command-line scope: a repository's own config
 * cannot turn them off).
 */
export function gitEnv(opts: GitEnvOptions): Record<string, string> {
  const config: [string, string][] = [['core.hooksPath', opts.hooksDir ?? GIT_HOOKS_DIR]];
  const env: Record<string, string> = {
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
    HOME: tmpdir(),
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: String(config.length),
    ...opts.extra,
  };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  if (opts.protocol) env.GIT_PROTOCOL = opts.protocol;
  if (opts.hook) {
    env.AJAR_HOOK_URL = opts.hook.url;
    env.AJAR_PUSH_SESSION = opts.hook.session;
    env.AJAR_GIT_REPO = opts.hook.repo;
  }
  return env;
}

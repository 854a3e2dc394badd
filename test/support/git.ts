// Real git against a real `ajar serve`: bare repositories under the served root,
// clones made by the git command line with an isolated HOME and config.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inject } from 'vitest';
import { parseDocument } from 'yaml';
import { type Ajar, type CliResult, EXAMPLE_CONFIG } from './ajar.js';

/** The example config, serving Git from ./repos, with a hook account `git-hooks`; `edit` changes it further. */
export function gitConfig(edit?: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(EXAMPLE_CONFIG, 'utf8'));
  doc.set('git', { root: './repos', hook_accounts: ['git-hooks'] });
  doc.setIn(['service_accounts', 'git-hooks'], { description: 'pre-receive hooks of other git servers' });
  edit?.(doc);
  return doc.toString();
}

/** The policy rules of a config document, as plain objects to edit and set back. */
export function policyRules(doc: ReturnType<typeof parseDocument>): any[] {
  const n = doc.getIn(['policy', 'rules']) as any;
  return typeof n?.toJSON === 'function' ? n.toJSON() : n;
}

export const reposOf = (a: Ajar) => join(dirname(a.configFile), 'repos');

export function runGit(args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  const home = mkdtempSync(join(inject('ajarTest').root, 'home-'));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    ...opts.env,
  };
  return new Promise((ok) => {
    const child = execFile('git', args, { cwd: opts.cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      ok({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.on('error', () => {}); // git may not read its input
    child.stdin!.end(opts.stdin ?? '');
  });
}

/** git, failing the test when it fails. */
export async function git(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await runGit(args, opts);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout.trim();
}

/** A bare repository under the served root, with `main` holding one commit. */
export async function makeRepo(a: Ajar, name: string): Promise<{ dir: string; main: string }> {
  const dir = join(reposOf(a), `${name}.git`);
  mkdirSync(dirname(dir), { recursive: true });
  await git(['init', '-q', '--bare', '-b', 'main', dir]);
  const work = mkdtempSync(join(inject('ajarTest').root, 'seed-'));
  await git(['init', '-q', '-b', 'main', work]);
  writeFileSync(join(work, 'README'), `${name}\n`);
  await git(['add', 'README'], { cwd: work });
  await git(['commit', '-q', '-m', 'first'], { cwd: work });
  await git(['push', '-q', dir, 'main'], { cwd: work });
  return { dir, main: await git(['rev-parse', 'HEAD'], { cwd: work }) };
}

/** The gateway URL of a repository with the user's token in it (as a credential helper would give). */
export async function repoUrl(a: Ajar, repo: string, user?: string): Promise<string> {
  const u = new URL(`${a.url}/git/${repo}.git`);
  if (user) {
    u.username = user;
    u.password = await a.token(user);
  }
  return u.toString();
}

/** A new commit on top of the checkout's HEAD; returns its id. */
export async function commit(work: string, file = 'change', text = `${Math.random()}\n`): Promise<string> {
  writeFileSync(join(work, file), text);
  await git(['add', file], { cwd: work });
  await git(['commit', '-q', '-m', `change ${file}`], { cwd: work });
  return git(['rev-parse', 'HEAD'], { cwd: work });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(inject('ajarTest').root, prefix));
}

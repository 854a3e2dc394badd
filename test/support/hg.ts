// Real hg against a real `ajar serve`: repositories under the served root,
// clones made by the hg command line with an isolated HOME and config.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseDocument } from 'yaml';
import { type Ajar, type CliResult } from './ajar.js';
import { gitConfig, policyRules, tempDir } from './git.js';

export { tempDir };

/**
 * The example config, also serving Mercurial from ./hgrepos with a hook account
 * `hg-hooks`, and rules for billing: drafts on default and feature bookmarks
 * (auto), closing topic branches, publishing and rewriting on default (auto).
 */
export function hgConfig(edit?: (doc: ReturnType<typeof parseDocument>) => void): string {
  return gitConfig((doc) => {
    doc.set('hg', { root: './hgrepos', hook_accounts: ['hg-hooks'] });
    doc.setIn(['service_accounts', 'hg-hooks'], { description: 'Mercurial hooks of other servers' });
    const rules = policyRules(doc);
    rules.push(
      { name: 'billing-work', who: { groups: ['eng'] }, resources: ['hg:billing:default', 'hg:billing:topic-*', 'hg:billing:@feature-*'], actions: ['push', 'delete'], max_duration: '8h', approval: 'auto' },
      { name: 'billing-lifecycle', who: { groups: ['eng'] }, resources: ['hg:billing:default', 'hg:billing:topic-*'], actions: ['close-branch', 'publish', 'rewrite'], max_duration: '8h', approval: 'auto' },
    );
    doc.setIn(['policy', 'rules'], rules);
    edit?.(doc);
  });
}

export const hgReposOf = (a: Ajar) => join(dirname(a.configFile), 'hgrepos');

export function runHg(args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  const home = tempDir('hghome-');
  // Evolution on, so obsolescence markers can be made and exchanged.
  writeFileSync(join(home, '.hgrc'), '[ui]\nusername = Test <test@example.com>\ninteractive = false\n[experimental]\nevolution = all\n[extensions]\nrebase =\n');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', HGPLAIN: '1', ...opts.env };
  return new Promise((ok) => {
    const child = execFile('hg', args, { cwd: opts.cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      ok({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.stdin ?? '');
  });
}

/** hg, failing the test when it fails. */
export async function hg(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await runHg(args, opts);
  if (r.code !== 0) throw new Error(`hg ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

/** A repository under the served root (non-publishing, evolution on) with one public changeset on default. */
export async function makeHgRepo(a: Ajar, name: string, root = hgReposOf(a)): Promise<{ dir: string; first: string }> {
  const dir = join(root, name);
  mkdirSync(dirname(dir), { recursive: true });
  await hg(['init', dir]);
  writeFileSync(join(dir, '.hg', 'hgrc'), '[phases]\npublish = False\n[experimental]\nevolution = all\n');
  writeFileSync(join(dir, 'README'), `${name}\n`);
  await hg(['add', 'README'], { cwd: dir });
  await hg(['commit', '-m', 'first'], { cwd: dir });
  await hg(['phase', '--public', '-r', '.'], { cwd: dir });
  await hg(['update', '-q', 'null'], { cwd: dir });
  return { dir, first: await hg(['log', '-r', '0', '-T', '{node}'], { cwd: dir }) };
}

/** The gateway URL of a repository with the user's token in it. */
export async function hgUrl(a: Ajar, repo: string, user?: string): Promise<string> {
  const u = new URL(`${a.url}/hg/${repo}`);
  if (user) {
    u.username = user;
    u.password = await a.token(user);
  }
  return u.toString();
}

/** A new changeset in the working copy; returns its node. */
export async function hgCommit(work: string, message = 'change', file = 'change'): Promise<string> {
  writeFileSync(join(work, file), `${Math.random()}\n`);
  await hg(['add', '-q', file], { cwd: work });
  await hg(['commit', '-m', message], { cwd: work });
  return hg(['log', '-r', '.', '-T', '{node}'], { cwd: work });
}

/** What the server repository has: node → "branch phase". */
export async function serverLog(dir: string, revset = 'all()'): Promise<Map<string, string>> {
  const out = await hg(['log', '-R', dir, '--hidden', '-r', revset, '-T', '{node} {branch} {phase}\\n']);
  return new Map(out.split('\n').filter(Boolean).map((l) => [l.split(' ')[0]!, l.split(' ').slice(1).join(' ')]));
}

/** A plain hgweb over `repoDir` that is not Ajar (test/support/plain_hgweb.py): `${url}/auth` sets REMOTE_USER from Basic credentials, `${url}/anon` never does. */
export async function startPlainHgweb(repoDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const python = await hg(['debuginstall', '-T', '{pythonexe}']);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tempDir('hgweb-home-'), LANG: 'C.UTF-8' };
  const child = spawn(python, [join(import.meta.dirname, 'plain_hgweb.py'), repoDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\d+)/.exec(out);
      if (m) ok(m[1]!);
    });
    child.once('exit', (code) => fail(new Error(`plain hgweb exited ${code}: ${err}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((ok) => {
        if (child.exitCode !== null || child.signalCode !== null) return ok();
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
  };
}

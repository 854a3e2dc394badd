// The README's quick start, as a newcomer runs it: the example config, the
// default data directory, admin commands through the server's socket, then the
// CLI with AJAR_URL/AJAR_TOKEN or a saved login.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CLI, EXAMPLE_CONFIG, run } from './support/ajar.js';

it('the quick start works from a fresh directory: serve, token, request, approve, check, audit', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'ajar-quickstart-'));
  const env = { ...process.env, HOME: cwd, XDG_CONFIG_HOME: join(cwd, '.config'), DATABASE_URL: '', AJAR_URL: '', AJAR_TOKEN: '', AJAR_DATA_DIR: '', AJAR_CONFIG: '' };
  delete env.AJAR_UNSAFE_CLOCK_FILE;
  // As from a checkout: examples/ajar.yaml, data and repositories in ./.ajar.
  mkdirSync(join(cwd, 'examples'));
  copyFileSync(EXAMPLE_CONFIG, join(cwd, 'examples', 'ajar.yaml'));
  const server = spawn(process.execPath, [CLI, 'serve', '--config', 'examples/ajar.yaml', '--port', '0'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((ok, fail) => {
      let out = '';
      server.stdout.on('data', (d) => {
        out += d;
        const m = /ajar listening on (\S+)/.exec(out);
        if (m) ok(m[1]!);
      });
      server.once('exit', (c) => fail(new Error(`serve exited ${c}`)));
    });
    const ajar = (args: string[], extra: Record<string, string> = {}, stdin?: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((ok) => {
        const p = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...env, ...extra } });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('exit', (code) => ok({ code: code ?? 1, stdout, stderr }));
        p.stdin.end(stdin ?? '');
      });
    expect(statSync(join(cwd, '.ajar', 'ajar.lock')).isFile()).toBe(true);
    const alice = (await ajar(['token', 'create', '--user', 'alice'])).stdout.trim();
    const bob = (await ajar(['token', 'create', '--user', 'bob'])).stdout.trim();
    expect(alice).toMatch(/^ajar_/);

    // alice saves a login; bob uses environment variables.
    const login = await ajar(['login', '--url', url], {}, `${alice}\n`);
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('as alice');
    expect(statSync(join(cwd, '.config', 'ajar', 'login.json')).mode & 0o077).toBe(0);
    const req = await ajar(['request', '--resource', 'git:payments:release/2.4', '--action', 'push', '--duration', '1h', '--reason', 'hotfix INC-7']);
    expect(req.stdout).toMatch(/request req_\S+ is pending/);
    const id = /request (req_\S+)/.exec(req.stdout)![1]!;
    const review = await ajar(['requests', '--review'], { AJAR_URL: url, AJAR_TOKEN: bob });
    expect(review.stdout).toContain(id);
    expect((await ajar(['approve', id], { AJAR_URL: url, AJAR_TOKEN: bob })).stdout).toContain('is approved');
    expect((await ajar(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/2.4'])).code).toBe(0);
    // As in the README: with AJAR_URL exported, admin commands on the host say --local.
    const withUrl = { AJAR_URL: url };
    expect((await ajar(['check', '--local', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/2.4'], withUrl)).code).toBe(0);
    expect((await ajar(['policy', 'explain', '--local', '--as', 'erin', '--action', 'push', '--resource', 'git:payments:feature/x'], withUrl)).stdout).toContain('approval: automatic');
    const audit = await ajar(['audit', '--local']);
    expect(audit.stdout).toContain('grant.created');
    expect((await ajar(['audit', 'verify', '--local'])).code).toBe(0);

    // Plain git through the gateway, with Ajar as git's credential helper (alice's saved login).
    const git = (args: string[], dir = cwd) =>
      new Promise<{ code: number; stderr: string }>((ok) => {
        const p = spawn('git', ['-c', `credential.helper=!${process.execPath} ${CLI} credential`, ...args], { cwd: dir, env: { ...env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@x', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@x' } });
        let stderr = '';
        p.stderr.on('data', (d) => (stderr += d));
        p.on('exit', (code) => ok({ code: code ?? 1, stderr }));
      });
    // The helper answers for the Ajar alice logged in to, and for no other host or scheme.
    const host = new URL(url).host;
    expect((await ajar(['credential', 'get'], {}, `protocol=http\nhost=${host}\n\n`)).stdout).toBe(`username=alice\npassword=${alice}\n`);
    for (const other of [`protocol=http\nhost=evil.example\n`, `protocol=https\nhost=${host}\n`, `protocol=http\nhost=${host}.evil.example\n`]) {
      expect((await ajar(['credential', 'get'], {}, `${other}\n`)).stdout, other).toBe('');
    }
    expect((await git(['init', '-q', '--bare', '.ajar/repos/payments.git'])).code).toBe(0);
    const denied = await git(['clone', `${url}/git/payments.git`]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('remote: ajar: alice has no active grant to read git:payments');
    expect((await ajar(['request', '--resource', 'git:payments', '--action', 'read', '--duration', '1h', '--reason', 'fix INC-7'], withUrl)).stdout).toContain('approved');
    expect((await git(['clone', '-q', `${url}/git/payments.git`])).code).toBe(0);
    const work = join(cwd, 'payments');
    await git(['commit', '-q', '--allow-empty', '-m', 'fix'], work);
    expect((await git(['push', 'origin', 'HEAD:feature/inc-7'], work)).stderr).toContain('ajar request --resource git:payments:feature/inc-7 --action push');
    await ajar(['request', '--resource', 'git:payments:feature/**', '--action', 'push', '--duration', '1h', '--reason', 'fix INC-7'], withUrl);
    expect((await git(['push', 'origin', 'HEAD:feature/inc-7'], work)).code).toBe(0);

    // And plain hg, the token in [auth] as docs/hg.md says.
    const hg = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((ok) => {
        const p = spawn('hg', ['--config', `auth.ajar.prefix=${url}/hg/`, '--config', 'auth.ajar.username=alice', '--config', `auth.ajar.password=${alice}`, ...args], { cwd, env: { ...env, HGPLAIN: '1', HGUSER: 'a' } });
        let stderr = '';
        p.stderr.on('data', (d) => (stderr += d));
        p.on('exit', (code) => ok({ code: code ?? 1, stderr }));
      });
    expect((await hg(['init', '.ajar/hgrepos/billing'])).code).toBe(0);
    expect((await hg(['clone', `${url}/hg/billing`, 'billing-denied'])).stderr).toContain('alice has no active grant to read hg:billing');
    await ajar(['request', '--resource', 'hg:billing', '--action', 'read', '--duration', '1h', '--reason', 'fix INC-7'], withUrl);
    expect((await hg(['clone', `${url}/hg/billing`])).code).toBe(0);
    await ajar(['logout']);
    expect((await ajar(['whoami'])).stdout).toContain('local:');
  } finally {
    server.kill('SIGTERM');
  }
});

it('a second terminal without a running server and without --config is told what to do', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'ajar-quickstart-'));
  const r = await run(process.execPath, [CLI, 'token', 'create', '--user', 'alice', '--data-dir', join(cwd, 'd')], { ...process.env, AJAR_CONFIG: '' });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('no Ajar server is running with data directory');
});

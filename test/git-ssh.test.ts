// SSH mode end to end: a real sshd runs `ajar ssh-command alice` as the forced
// command of alice's key, against a real `ajar serve`; git clones and pushes
// over ssh:// and the pre-receive hook decides every ref.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, CLI, startAjar } from './support/ajar.js';
import { commit, git, gitConfig, makeRepo, reposOf, runGit, tempDir } from './support/git.js';
import { type Sshd, startSshd } from './support/sshd.js';

let a: Ajar;
let sshd: Sshd;
let bare = '';
let main = '';

const url = (repo = 'payments.git') => `ssh://${sshd.login}@127.0.0.1:${sshd.port}/${repo}`;
const viaSsh = (extra: Record<string, string> = {}) => ({ GIT_SSH_COMMAND: ['ssh', ...sshd.options()].join(' '), ...extra });
/** `ssh host COMMAND`: what arrives as SSH_ORIGINAL_COMMAND. */
const sshRemote = (command: string, opts: { options?: string[]; env?: Record<string, string>; stdin?: string } = {}) => sshd.remote(command, opts);
const ref = async (name: string) => (await runGit(['--git-dir', bare, 'rev-parse', '--verify', '-q', name])).stdout.trim();
const gitEvents = async () => (await a.json(['audit', '--type', 'git.*'])) as any[];

beforeAll(async () => {
  a = await startAjar({ config: gitConfig() });
  ({ dir: bare, main } = await makeRepo(a, 'payments'));
  const tokenFile = join(tempDir('tok-'), 'hook-token');
  writeFileSync(tokenFile, `${await a.token('git-hooks')}\n`, { mode: 0o600 });
  sshd = await startSshd({ command: [process.execPath, CLI, 'ssh-command', 'alice', '--root', reposOf(a), '--url', a.url, '--token-file', tokenFile], acceptEnv: ['GIT_PROTOCOL'] });
});

afterAll(async () => {
  await sshd?.stop();
  await a?.stop();
});

describe('fetching over SSH', () => {
  it('a clone is refused without a read grant, and the refusal tells the command to ask for one', async () => {
    const dest = join(tempDir('clone-'), 'payments');
    const r = await runGit(['clone', url(), dest], { env: viaSsh() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ajar: alice has no active grant to read git:payments');
    expect(r.stderr).toContain('ajar request --resource git:payments --action read');
    expect(existsSync(dest)).toBe(false);
    // A repository Ajar does not manage gets the same answer, whether it exists or not.
    const other = await runGit(['clone', url('secrets.git'), join(tempDir('clone-'), 's')], { env: viaSsh() });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('ajar: alice has no active grant to read git:secrets');
  });

  it('with a read grant, git clones with protocol v2, with protocol v0, through `git upload-pack` and from an scp-like address', async () => {
    const req = await a.json(['request', '--resource', 'git:payments', '--action', 'read', '--duration', '1h', '--reason', 'ssh clone'], { as: 'alice' });
    expect(req.state).toBe('approved');
    for (const [name, args, from] of [
      ['v2', ['clone'], url()],
      ['v0', ['-c', 'protocol.version=0', 'clone'], url()],
      ['git upload-pack', ['clone', '--upload-pack', 'git upload-pack'], url()],
      ['scp-like address', ['clone'], `${sshd.login}@127.0.0.1:payments.git`], // the port comes from GIT_SSH_COMMAND's -p
    ] as const) {
      const dest = join(tempDir('clone-'), 'payments');
      const r = await runGit([...args, from, dest], { env: viaSsh({ GIT_TRACE_PACKET: '1' }) });
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(await git(['rev-parse', 'HEAD'], { cwd: dest }), name).toBe(main);
      // The protocol git asked for reached git upload-pack through sshd and Ajar:
      // v2 answers `version 2`, v0 advertises its refs with capabilities at once.
      if (name === 'v0') {
        expect(r.stderr).not.toMatch(/< version 2$/m);
        expect(r.stderr).toContain('symref=HEAD:refs/heads/main');
      } else expect(r.stderr, name).toMatch(/< version 2$/m);
    }
  });
});

describe('pushing over SSH', () => {
  it('a push needs a write grant; with the feature grant a feature branch lands and main is refused per ref with nothing updated', async () => {
    const work = join(tempDir('work-'), 'payments');
    await git(['clone', '-q', url(), work], { env: viaSsh() });
    const feature = await commit(work, 'feature.txt');

    const early = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/ssh'], { cwd: work, env: viaSsh() });
    // A reader reaches the hook: told the exact ref and the exact command to ask with.
    expect(early.code).not.toBe(0);
    expect(early.stderr).toContain('ajar:   refs/heads/feature/ssh: create needs push; no active grant for push on git:payments:feature/ssh');
    expect(early.stderr).toContain('ajar:   ajar request --resource git:payments:feature/ssh --action push --duration 1h');
    expect(await ref('refs/heads/feature/ssh')).toBe('');

    const req = await a.json(['request', '--resource', 'git:payments:feature/**', '--action', 'push', '--duration', '1h', '--reason', 'ssh push'], { as: 'alice' });
    expect(req.state).toBe('approved');
    const ok = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/ssh'], { cwd: work, env: viaSsh() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('ajar: push to payments allowed for alice: refs/heads/feature/ssh (push');
    expect(await ref('refs/heads/feature/ssh')).toBe(feature);

    const denied = await runGit(['push', 'origin', 'HEAD:main'], { cwd: work, env: viaSsh() });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('ajar: push to payments refused for alice: 1 of 1 change(s) not covered by an active grant');
    expect(denied.stderr).toContain('ajar:   refs/heads/main: fast-forward needs push; no active grant for push on git:payments:main');
    expect(denied.stderr).toMatch(/pre-receive hook declined/);
    expect(await ref('refs/heads/main')).toBe(main);

    // One refused ref refuses the whole push: the allowed branch does not move either.
    const both = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/two', 'HEAD:main'], { cwd: work, env: viaSsh() });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('ajar:   refs/heads/feature/two: create needs push; allowed by');
    expect(await ref('refs/heads/feature/two')).toBe('');
    expect(await ref('refs/heads/main')).toBe(main);
  });
});

describe('what the forced command refuses', () => {
  it('anything but git-upload-pack or git-receive-pack on a plain repository name is refused without running anything or asking Ajar', async () => {
    const before = (await gitEvents()).length;
    const marker = join(tempDir('marker-'), 'ran');
    for (const command of [
      "git-upload-pack '--upload-pack=id'",
      "git-upload-pack 'payments'; id",
      `git-upload-pack 'payments'; touch ${marker}`,
      `git-upload-pack '$(touch ${marker})'`,
      "git-upload-pack 'payments'\nid",
      "git-upload-pack '../payments'",
      "git-upload-pack 'payments/../payments'",
      "git-upload-pack '$(id)'",
      'git-upload-pack payments',
      "git-upload-pack 'payments' 'other'",
      "git upload-archive 'payments'",
      'ls',
      'id',
      '', // no command: a login shell
    ]) {
      const r = await sshRemote(command);
      expect(r.code, command).toBe(1);
      expect(r.stderr, command).toContain('ajar: this key only runs git fetch and push (git-upload-pack or git-receive-pack on a repository)');
      expect(r.stdout, command).toBe('');
      expect(r.stderr, command).not.toContain('uid=');
    }
    expect(existsSync(marker)).toBe(false);
    expect((await gitEvents()).length).toBe(before);
    // The same channel does run git for a command of the accepted shape (a flush packet: the client wants nothing).
    const good = await sshRemote("git upload-pack '/payments.git'", { stdin: '0000' });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain(`${main} refs/heads/main`);
  });

  it('a GIT_PROTOCOL that is not valid is refused, a valid one reaches git', async () => {
    const send = ['-o', 'SendEnv=GIT_PROTOCOL'];
    for (const bad of ['version=2 $(id)', 'version=2;id', 'version=2\nid', '']) {
      const r = await sshRemote("git-upload-pack 'payments.git'", { options: send, env: { GIT_PROTOCOL: bad } });
      expect(r.code, JSON.stringify(bad)).toBe(1);
      expect(r.stderr).toContain('ajar: GIT_PROTOCOL is not valid');
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toContain('uid=');
    }
    const v2 = await sshRemote("git-upload-pack 'payments.git'", { options: send, env: { GIT_PROTOCOL: 'version=2' }, stdin: '0000' });
    expect(v2.code, v2.stderr).toBe(0);
    expect(v2.stdout).toContain('version 2');
  });
});

describe('audit and failure', () => {
  it('the audit log has the SSH fetches and pushes, allowed and refused, with transport ssh', async () => {
    const events = await gitEvents();
    const fetches = events.filter((e) => e.type === 'git.fetch' && e.resource === 'git:payments');
    expect(fetches.map((e) => e.outcome)).toEqual(expect.arrayContaining(['allow', 'deny']));
    for (const e of fetches) expect(e).toMatchObject({ subject: 'alice', action: 'read', details: { transport: 'ssh', service: 'git-upload-pack' } });
    const pushes = events.filter((e) => e.type === 'git.push');
    for (const e of pushes) expect(e).toMatchObject({ subject: 'alice', resource: 'git:payments', details: { transport: 'ssh' } });
    const allowed = pushes.find((e) => e.outcome === 'allow');
    expect(allowed.details.refs).toEqual([expect.objectContaining({ ref: 'refs/heads/feature/ssh', action: 'push', kind: 'create' })]);
    expect(pushes.find((e) => e.outcome === 'deny' && e.reason === 'no active grant for push on git:payments:main')).toBeDefined();
    // alice's first push, as a reader, was decided by the hook, ref by ref.
    expect(pushes.find((e) => e.outcome === 'deny' && e.reason === 'no active grant for push on git:payments:feature/ssh')).toBeDefined();
  });

  it('with Ajar unreachable a clone over SSH is refused with a clear message (fail closed)', async () => {
    await a.stop();
    try {
      const dest = join(tempDir('clone-'), 'payments');
      const r = await runGit(['clone', url(), dest], { env: viaSsh() });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/ajar: cannot reach Ajar to decide \(.+\); refused \(Ajar fails closed\)/);
      expect(existsSync(dest)).toBe(false);
    } finally {
      await a.start();
    }
  });
});

// Hook mode: a git server Ajar does not run (here `git http-backend` behind a
// small Node server, as under nginx) with Ajar's pre-receive hook installed by
// `ajar install-hook git`, asking a remote Ajar as a hook account.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { commit, git, gitConfig, makeRepo, runGit, tempDir } from './support/git.js';
import { startPlainGitServer } from './support/plain-git-server.js';

let a: Ajar;
let plain: Awaited<ReturnType<typeof startPlainGitServer>>;
let repo: { dir: string; main: string };
let tokenFile: string;

const plainUrl = (user: string) => {
  const u = new URL(`${plain.url}/payments.git`);
  u.username = user;
  u.password = 'whatever-the-web-server-checks';
  return u.toString();
};
const refOf = (ref: string) => runGit(['--git-dir', repo.dir, 'rev-parse', '--verify', '-q', ref]).then((r) => r.stdout.trim() || null);

async function install(extra: string[] = [], file = tokenFile) {
  return a.cli(['install-hook', 'git', repo.dir, '--url', a.url, '--token-file', file, '--repo', 'payments', ...extra]);
}

beforeAll(async () => {
  a = await startAjar({ config: gitConfig() });
  // The repository lives with the other server, not under Ajar's root.
  const elsewhere = tempDir('plain-');
  repo = await makeRepo({ ...a, configFile: join(elsewhere, 'ajar.yaml') } as Ajar, 'payments');
  plain = await startPlainGitServer(join(elsewhere, 'repos'));
  tokenFile = join(tempDir('tok-'), 'hook-token');
  writeFileSync(tokenFile, `${await a.token('git-hooks')}\n`, { mode: 0o600 });
  const r = await install();
  expect(r.code, r.stderr).toBe(0);
  await a.cli(['request', '--resource', 'git:payments:feature/**', '--action', 'push', '--duration', '1h', '--reason', 'work'], { as: 'alice' });
});
afterAll(async () => {
  await plain?.close();
  await a?.stop();
});

describe('hook mode', () => {
  it('the pusher named by the server gets Ajar\'s decision per ref; the audit names the hook account and the pusher', async () => {
    const work = tempDir('work-');
    await git(['clone', '-q', plainUrl('alice'), work]);
    const c = await commit(work);
    const ok = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/hooked'], { cwd: work });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('remote: ajar: push to payments allowed for alice');
    expect(await refOf('refs/heads/feature/hooked')).toBe(c);
    const no = await runGit(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
    expect(no.code).not.toBe(0);
    expect(no.stderr).toContain('refs/heads/main: fast-forward needs push; no active grant for push on git:payments:main');
    expect(no.stderr).toContain('ajar request --resource git:payments:main --action push');
    expect(await refOf('refs/heads/main')).toBe(repo.main);
    // bob has no grant; the same push as bob is refused.
    const bob = tempDir('work-');
    await git(['clone', '-q', plainUrl('bob'), bob]);
    await commit(bob);
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/feature/bob'], { cwd: bob })).code).not.toBe(0);
    const events = (await a.json(['audit', '--local', '--type', 'git.push'])) as any[];
    expect(events.map((e) => [e.actor, e.subject, e.outcome, e.details.transport])).toEqual([
      ['git-hooks', 'alice', 'allow', 'hook'],
      ['git-hooks', 'alice', 'deny', 'hook'],
      ['git-hooks', 'bob', 'deny', 'hook'],
    ]);
  });

  it('takes the pusher from the variable of the server in use (GitLab, Gitea, Gitolite, or one named)', async () => {
    const work = tempDir('work-');
    await git(['clone', '-q', repo.dir, work]);
    await commit(work);
    // A local push runs the hook with our environment, as the git server would with its own.
    const as = (ref: string, env: Record<string, string>) => runGit(['push', 'origin', `HEAD:refs/heads/feature/${ref}`], { cwd: work, env });
    const servers: [string, string][] = [
      ['gitlab', 'GL_USERNAME'],
      ['gitea', 'GITEA_PUSHER_NAME'],
      ['gitolite', 'GL_USER'],
      ['PUSHED_BY', 'PUSHED_BY'],
    ];
    for (const [server, variable] of servers) {
      expect((await install(['--user-var', server])).code).toBe(0);
      // Another server's variable names nobody here.
      const nobody = await as(server, { REMOTE_USER: 'alice', ...(variable === 'GL_USER' ? { GL_USERNAME: 'alice' } : { GL_USER: 'alice' }) });
      expect(nobody.code, server).not.toBe(0);
      expect(nobody.stderr).toContain(`cannot tell who is pushing: ${variable} is not set by the git server`);
      // bob, named by the right variable, has no grant: the hook asked about him, not alice.
      const bob = await as(server, { [variable]: 'bob' });
      expect(bob.code, server).not.toBe(0);
      expect(bob.stderr).toContain(`push to payments refused for bob`);
      const alice = await as(server, { [variable]: 'alice' });
      expect(alice.code, `${server}: ${alice.stderr}`).toBe(0);
      expect(alice.stderr).toContain('push to payments allowed for alice');
    }
    expect((await install()).code).toBe(0);
  });

  it('fails closed: Ajar unreachable, a token that is not a hook account\'s, or an unreadable token file refuse the push', async () => {
    const work = tempDir('work-');
    await git(['clone', '-q', plainUrl('alice'), work]);
    await commit(work);
    const push = () => runGit(['push', 'origin', 'HEAD:refs/heads/feature/closed'], { cwd: work });

    const aliceToken = join(tempDir('tok-'), 'alice');
    writeFileSync(aliceToken, await a.token('alice'));
    expect((await install([], aliceToken)).code).toBe(0);
    const notHook = await push();
    expect(notHook.code).not.toBe(0);
    expect(notHook.stderr).toContain('alice is not a hook account');

    expect((await install()).code).toBe(0);
    renameSync(tokenFile, `${tokenFile}.away`);
    const unreadable = await push();
    renameSync(`${tokenFile}.away`, tokenFile);
    expect(unreadable.code).not.toBe(0);
    expect(unreadable.stderr).toContain('cannot read the hook account token file');

    await a.stop();
    try {
      const down = await push();
      expect(down.code).not.toBe(0);
      expect(down.stderr).toMatch(/cannot reach Ajar at http:\/\/127\.0\.0\.1:\d+/);
      expect(down.stderr).toContain('the push is refused (Ajar fails closed)');
      expect(await refOf('refs/heads/feature/closed')).toBeNull();
    } finally {
      await a.start();
    }
    expect((await push()).code).toBe(0);
  });

  it('keeps a pre-receive hook that was there and runs it after Ajar allows', async () => {
    const hook = join(repo.dir, 'hooks', 'pre-receive');
    const marker = join(tempDir('mark-'), 'ran');
    writeFileSync(hook, `#!/bin/sh\ncat > ${marker}\nexit 0\n`);
    chmodSync(hook, 0o755);
    const r = await install();
    expect(r.stdout).toContain('the hook that was there runs after Ajar allows');
    expect(readFileSync(`${hook}.before-ajar`, 'utf8')).toContain(marker);
    const work = tempDir('work-');
    await git(['clone', '-q', plainUrl('alice'), work]);
    const c = await commit(work);
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/feature/chained'], { cwd: work })).code).toBe(0);
    expect(readFileSync(marker, 'utf8')).toContain(`${c} refs/heads/feature/chained`);
    // Reinstalling replaces Ajar's hook, and keeps the original where it is.
    expect((await install()).stdout).not.toContain('the hook that was there');
  });
});

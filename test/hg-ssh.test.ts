// Mercurial SSH mode end to end: a real sshd runs `ajar ssh-command alice` as
// the forced command of alice's key, against a real `ajar serve`; the real hg
// client clones and pushes over ssh://, Mercurial's own ssh server runs with
// Ajar's hooks forced on, and the pretxnclose hook decides every change.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, CLI, startAjar } from './support/ajar.js';
import { policyRules } from './support/git.js';
import { hg, hgCommit, hgConfig, hgReposOf, makeHgRepo, runHg, serverLog, tempDir } from './support/hg.js';
import { type Sshd, startSshd } from './support/sshd.js';

let a: Ajar;
let sshd: Sshd;
let repo: { dir: string; first: string };

const url = (name = 'billing') => `ssh://${sshd.login}@127.0.0.1:${sshd.port}/${name}`;
/** hg's ssh command: the port comes from the URL. */
const viaSsh = () => ['--ssh', ['ssh', ...sshd.options(false)].join(' ')];
const hgEvents = async () => (await a.json(['audit', '--local', '--type', 'hg.*'])) as any[];
/** What reached the terminal: hg prints the remote side's messages (`remote: ...`) on stdout, its own abort on stderr. */
const term = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const REFUSED_COMMAND = 'ajar: this key only runs git fetch and push (git-upload-pack or git-receive-pack on a repository) and hg -R <repository> serve --stdio';

/** A clone of billing over SSH, failing the test when it fails. */
async function cloneOverSsh(): Promise<string> {
  const work = join(tempDir('work-'), 'billing');
  await hg(['clone', '-q', ...viaSsh(), url(), work]);
  return work;
}

beforeAll(async () => {
  // A refused push to stable files the request for the leads.
  a = await startAjar({
    config: hgConfig((doc) => {
      const rules = policyRules(doc);
      for (const r of rules) if (r.name === 'billing-stable') r.request_on_deny = true;
      doc.setIn(['policy', 'rules'], rules);
    }),
  });
  repo = await makeHgRepo(a, 'billing');
  const tokenFile = join(tempDir('tok-'), 'hook-token');
  writeFileSync(tokenFile, `${await a.token('hg-hooks')}\n`, { mode: 0o600 });
  sshd = await startSshd({ command: [process.execPath, CLI, 'ssh-command', 'alice', '--root', hgReposOf(a), '--url', a.url, '--token-file', tokenFile] });
});

afterAll(async () => {
  await sshd?.stop();
  await a?.stop();
});

describe('pulling over SSH', () => {
  it('a clone is refused without a read grant, and the refusal with the command to ask for one reaches the terminal', async () => {
    const dest = join(tempDir('clone-'), 'billing');
    const r = await runHg(['clone', ...viaSsh(), url(), dest]);
    expect(r.code).not.toBe(0);
    expect(term(r)).toContain('remote: ajar: alice has no active grant to read hg:billing');
    expect(term(r)).toContain('ajar request --resource hg:billing --action read');
    expect(existsSync(dest)).toBe(false);
    // A repository Ajar does not manage gets the same answer, whether it exists or not.
    await makeHgRepo(a, 'secrets');
    for (const name of ['secrets', 'nowhere']) {
      const other = await runHg(['clone', ...viaSsh(), url(name), join(tempDir('clone-'), name)]);
      expect(other.code, name).not.toBe(0);
      expect(term(other), name).toContain(`remote: ajar: alice has no active grant to read hg:${name}`);
    }
  });

  it('with a read grant the clone works, from a plain and a slash-prefixed path', async () => {
    const req = await a.json(['request', '--resource', 'hg:billing', '--action', 'read', '--duration', '1h', '--reason', 'ssh clone'], { as: 'alice' });
    expect(req.state).toBe('approved');
    const work = await cloneOverSsh();
    expect(await hg(['log', '-r', 'tip', '-T', '{node}'], { cwd: work })).toBe(repo.first);
    // ssh://host:port//billing: hg sends `hg -R /billing serve --stdio`, the leading slash is dropped.
    const abs = join(tempDir('clone-'), 'billing');
    const r = await runHg(['clone', '-q', ...viaSsh(), `ssh://${sshd.login}@127.0.0.1:${sshd.port}//billing`, abs]);
    expect(r.code, r.stderr).toBe(0);
    expect(await hg(['log', '-r', 'tip', '-T', '{node}'], { cwd: abs })).toBe(repo.first);
  });
});

describe('pushing over SSH', () => {
  it('without a push grant every change is refused by Ajar itself: the exact command to ask, on record, and filed where the rule says so', async () => {
    const work = await cloneOverSsh();
    await hg(['branch', '-q', 'stable'], { cwd: work });
    const node = await hgCommit(work, 'read-only attempt');
    const r = await runHg(['push', ...viaSsh(), '--new-branch', url()], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(term(r)).toContain('remote: ajar: push to billing refused for alice: 1 of 1 change(s) not covered by an active grant');
    expect(term(r)).toContain('remote: ajar:   branch stable: 1 new changeset(s) needs push; no active grant for push on hg:billing:stable');
    expect(term(r)).toContain('remote: ajar:   ajar request --resource hg:billing:stable --action push');
    const filed = /remote: ajar: filed request (req_\w+) for push on hg:billing:stable; it waits for approval/.exec(term(r));
    expect(filed, term(r)).not.toBeNull();
    expect(await a.json(['requests', filed![1]!], { as: 'alice' })).toMatchObject({ state: 'pending', resources: ['hg:billing:stable'], actions: ['push'] });
    expect((await serverLog(repo.dir)).has(node)).toBe(false);
    // A bookmark on a changeset the server has, the way older clients push it (a pushkey command).
    await hg(['bookmark', '-r', repo.first, 'release-ro'], { cwd: work });
    const b = await runHg(['push', ...viaSsh(), '--config', 'devel.legacy.exchange=bundle1', '-r', repo.first, '-B', 'release-ro', url()], { cwd: work });
    expect(term(b)).toContain('remote: ajar:   bookmark release-ro: create the bookmark needs push; no active grant for push on hg:billing:@release-ro');
    expect(term(b)).toContain('remote: ajar:   ajar request --resource hg:billing:@release-ro --action push');
    expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).toBe('');
    // Both refusals are on record with what they would have changed.
    const denied = (await hgEvents()).filter((e) => e.type === 'hg.push' && e.outcome === 'deny');
    expect(denied.map((e) => e.details.changes.map((c: any) => c.branch ?? `@${c.bookmark}`))).toEqual([['stable'], ['@release-ro']]);
    for (const e of denied) expect(e).toMatchObject({ subject: 'alice', details: { transport: 'ssh' } });
    expect(denied[0].details.changes[0].nodes).toEqual([node]);
  });

  it('with a push grant on default a new changeset lands there, as a draft', async () => {
    const req = await a.json(['request', '--resource', 'hg:billing:default', '--action', 'push', '--duration', '1h', '--reason', 'ssh push'], { as: 'alice' });
    expect(req.state).toBe('approved');
    const work = await cloneOverSsh();
    const node = await hgCommit(work, 'on default');
    const r = await runHg(['push', ...viaSsh(), url()], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(term(r)).toContain(`remote: ajar: push to billing allowed for alice: branch default (push, ${req.grantId}`);
    expect((await serverLog(repo.dir)).get(node)).toBe('default draft');
  });

  it('a push with a new branch stable is refused per change, nothing lands; default alone is allowed', async () => {
    const work = await cloneOverSsh();
    const onDefault = await hgCommit(work, 'default again');
    await hg(['branch', '-q', 'stable'], { cwd: work });
    const onStable = await hgCommit(work, 'on stable');
    const r = await runHg(['push', ...viaSsh(), '--new-branch', url()], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(term(r)).toContain('remote: ajar: push to billing refused for alice: 1 of 2 change(s) not covered by an active grant');
    expect(term(r)).toMatch(/remote: ajar: {3}branch default: 1 new changeset\(s\) needs push; allowed by \S+/);
    expect(term(r)).toContain('remote: ajar:   branch stable: 1 new changeset(s) needs push; no active grant for push on hg:billing:stable');
    expect(term(r)).toContain('remote: ajar: the whole push is refused; ask for access with:');
    expect(term(r)).toContain('remote: ajar:   ajar request --resource hg:billing:stable --action push');
    let server = await serverLog(repo.dir);
    expect(server.has(onDefault)).toBe(false);
    expect(server.has(onStable)).toBe(false);

    const alone = await runHg(['push', ...viaSsh(), '-r', onDefault, url()], { cwd: work });
    expect(alone.code, alone.stderr).toBe(0);
    expect(term(alone)).toContain('remote: ajar: push to billing allowed for alice: branch default (push');
    server = await serverLog(repo.dir);
    expect(server.get(onDefault)).toBe('default draft');
    expect(server.has(onStable)).toBe(false);
  });
});

describe('the settings Ajar forces', () => {
  it('the repository\'s own hgrc cannot switch Ajar\'s hooks off or make pushes publish', async () => {
    const hgrc = join(repo.dir, '.hg', 'hgrc');
    const before = readFileSync(hgrc, 'utf8');
    writeFileSync(hgrc, `${before}[hooks]\npretxnclose.ajar =\npretxnopen.ajar =\n[phases]\npublish = True\n`);
    try {
      const work = await cloneOverSsh();
      await hg(['branch', '-q', 'stable'], { cwd: work });
      const onStable = await hgCommit(work, 'stable, hooks off?');
      const r = await runHg(['push', ...viaSsh(), '--new-branch', url()], { cwd: work });
      expect(r.code).not.toBe(0);
      expect(term(r)).toContain('remote: ajar:   branch stable: 1 new changeset(s) needs push; no active grant for push on hg:billing:stable');
      expect((await serverLog(repo.dir)).has(onStable)).toBe(false);
      await hg(['update', '-q', 'default'], { cwd: work });
      const onDefault = await hgCommit(work, 'default, publishing?');
      const ok = await runHg(['push', ...viaSsh(), '-r', onDefault, url()], { cwd: work });
      expect(ok.code, term(ok)).toBe(0);
      expect(term(ok)).toContain('remote: ajar: push to billing allowed for alice: branch default (push');
      expect((await serverLog(repo.dir)).get(onDefault)).toBe('default draft');
    } finally {
      writeFileSync(hgrc, before);
    }
  });
});

describe('what the forced command refuses', () => {
  it('anything but `hg -R <repo> serve --stdio` is refused without running anything or asking Ajar', async () => {
    const before = (await hgEvents()).length;
    const marker = join(tempDir('marker-'), 'ran');
    for (const command of [
      'hg -R billing serve --stdio --debugger',
      'hg -R billing serve --stdio --config=hooks.pretxnopen.ajar=true',
      'hg -R billing serve --stdio --config hooks.pretxnclose.ajar=true',
      'hg --config=hooks.pretxnclose.ajar=true -R billing serve --stdio',
      'hg --debugger -R billing serve --stdio',
      'hg -R ../billing serve --stdio',
      'hg -R billing/../billing serve --stdio',
      'hg -R billing/.hg serve --stdio',
      "hg -R '../billing' serve --stdio",
      'hg -R ~/billing serve --stdio',
      'hg -R billing log',
      'hg -R billing serve',
      'hg -R billing serve --stdio --cwd /',
      'hg serve --stdio -R billing',
      'hg -R billing  serve --stdio',
      'hg -Rbilling serve --stdio',
      'hg -R "billing" serve --stdio',
      'hg -R billing serve --stdio; id',
      `hg -R billing serve --stdio; touch ${marker}`,
      `hg -R billing serve --stdio && touch ${marker}`,
      `hg -R '$(touch ${marker})' serve --stdio`,
      `hg -R billing$(touch ${marker}) serve --stdio`,
      'hg -R billing serve --stdio\nid',
      'hg -R billing;id serve --stdio',
      'hg -R --debugger serve --stdio',
      'hg id',
      'hg',
      'id',
      '', // no command: a login shell
    ]) {
      const r = await sshd.remote(command, { stdin: 'hello\n' });
      expect(r.code, command).toBe(1);
      expect(r.stderr, command).toContain(REFUSED_COMMAND);
      expect(r.stdout, command).toBe('');
      expect(r.stderr, command).not.toContain('uid=');
    }
    expect(existsSync(marker)).toBe(false);
    // Nothing was asked of Ajar, so nothing was audited.
    expect((await hgEvents()).length).toBe(before);
    // The same channel does run Mercurial's ssh server for a command of the accepted shape.
    for (const good of ['hg -R billing serve --stdio', "hg -R 'billing' serve --stdio", 'hg -R /billing/ serve --stdio']) {
      const r = await sshd.remote(good, { stdin: 'hello\n' });
      expect(r.code, `${good}: ${r.stderr}`).toBe(0);
      expect(r.stdout, good).toMatch(/capabilities: .*unbundle/);
    }
  });

  it('a path outside the root is only ever a repository name under it', async () => {
    const r = await sshd.remote('hg -R /etc serve --stdio', { stdin: 'hello\n' });
    expect(r.code).toBe(1);
    expect(term(r)).toContain('ajar: alice has no active grant to read hg:etc');
    expect(r.stdout).toBe('');
  });
});

describe('audit and failure', () => {
  it('the audit log has the SSH pulls and pushes, allowed and refused, with transport ssh', async () => {
    const events = await hgEvents();
    const pulls = events.filter((e) => e.type === 'hg.pull' && e.resource === 'hg:billing');
    expect(pulls.map((e) => e.outcome)).toEqual(expect.arrayContaining(['allow', 'deny']));
    for (const e of pulls) expect(e).toMatchObject({ actor: 'alice', subject: 'alice', action: 'read', details: { transport: 'ssh' } });
    const pushes = events.filter((e) => e.type === 'hg.push' && e.resource === 'hg:billing');
    for (const e of pushes) expect(e).toMatchObject({ actor: 'alice', subject: 'alice', details: { transport: 'ssh' } });
    // The hook's decisions: what each change needed and which grant allowed it.
    const decided = pushes.filter((e) => e.details.changes);
    expect(decided.length).toBe(pushes.length);
    expect(decided.map((e) => e.outcome)).toEqual(['deny', 'deny', 'allow', 'deny', 'allow', 'deny', 'allow']);
    const allowed = pushes.filter((e) => e.outcome === 'allow');
    expect(allowed.length).toBe(3);
    for (const e of allowed) {
      expect(e.action).toBe('push');
      expect(e.details.changes).toEqual([expect.objectContaining({ type: 'changesets', branch: 'default', count: 1, action: 'push', grantId: e.grantId })]);
    }
    const stable = pushes.find((e) => e.outcome === 'deny' && e.reason === 'no active grant for push on hg:billing:stable' && e.details.changes.length === 2);
    expect(stable).toBeDefined();
    expect(stable.details.changes).toEqual([
      expect.objectContaining({ type: 'changesets', branch: 'default', grantId: expect.any(String) }),
      expect.objectContaining({ type: 'changesets', branch: 'stable', grantId: null }),
    ]);
  });

  it('with Ajar unreachable a clone over SSH is refused with a clear message (fail closed)', async () => {
    await a.stop();
    try {
      const dest = join(tempDir('clone-'), 'billing');
      const r = await runHg(['clone', ...viaSsh(), url(), dest]);
      expect(r.code).not.toBe(0);
      expect(term(r)).toMatch(/remote: ajar: cannot reach Ajar to decide \(.+\); refused \(Ajar fails closed\)/);
      expect(existsSync(dest)).toBe(false);
    } finally {
      await a.start();
    }
  });
});

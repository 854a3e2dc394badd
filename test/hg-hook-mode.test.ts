// Mercurial hook mode end to end: a repository served by something Ajar does
// not run (hgweb under Apache, Heptapod...) with Ajar's pretxnclose hook put in
// its .hg/hgrc by `ajar install-hook hg`, asking a real `ajar serve` as a hook
// account. A local `hg push <repository path>` runs the hook in the pushing
// process with its environment, so the test sets REMOTE_USER (or GL_USERNAME)
// as the server in front would.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { hg, hgCommit, hgConfig, makeHgRepo, runHg, serverLog, startPlainHgweb, tempDir } from './support/hg.js';

let a: Ajar;
let repo: { dir: string; first: string };
let tokenFile: string;

const BEGIN = '# >>> ajar (installed by ajar install-hook hg; do not edit inside)';
const END = '# <<< ajar';
const ALICE = { REMOTE_USER: 'alice' };

/** What reached the terminal: the hook writes on stderr, hg its progress on stdout. */
const term = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
const hgrc = () => readFileSync(join(repo.dir, '.hg', 'hgrc'), 'utf8');
const count = (text: string, what: string) => text.split(what).length - 1;
const hgEvents = async () => (await a.json(['audit', '--local', '--type', 'hg.*'])) as any[];
const bookmarks = () => hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n']);

async function install(extra: string[] = [], file = tokenFile) {
  return a.cli(['install-hook', 'hg', repo.dir, '--url', a.url, '--token-file', file, ...extra]);
}

async function request(resource: string, action: string, as = 'alice', extra: string[] = []) {
  const r = await a.json(['request', '--resource', resource, '--action', action, '--duration', '1h', '--reason', 'hook mode', ...extra], { as });
  expect(r.state, `${action} on ${resource}`).toBe('approved');
  return r;
}

/** A working clone of the repository, straight from its path (reading runs no hook). */
async function clone(): Promise<string> {
  const work = join(tempDir('work-'), 'billing');
  await hg(['clone', '-q', repo.dir, work]);
  return work;
}

const push = (work: string, env: Record<string, string> = ALICE, extra: string[] = []) => runHg(['push', ...extra, repo.dir], { cwd: work, env });

beforeAll(async () => {
  a = await startAjar({ config: hgConfig() });
  // The repository lives with the other server, not under Ajar's root.
  repo = await makeHgRepo(a, 'billing', tempDir('hgserver-'));
  tokenFile = join(tempDir('tok-'), 'hook-token');
  writeFileSync(tokenFile, `${await a.token('hg-hooks')}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await a?.stop();
});

describe('installing the hook', () => {
  it('writes an [ajar] block and the pretxnclose hook into .hg/hgrc, keeping what was there; installing again replaces the block', async () => {
    const first = await install(['--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ hgrc: join(repo.dir, '.hg', 'hgrc'), replaced: false, repo: 'billing' });
    let text = hgrc();
    expect(text).toContain('[phases]\npublish = False\n');
    expect(text).toContain(`${BEGIN}\n[hooks]\npretxnclose.ajar = python:`);
    expect(text).toMatch(/pretxnclose\.ajar = python:\/\S+\/hooks\/hg\/ajar_hg\.py:pretxnclose\n/);
    // prepushkey too: older clients move bookmarks and phases by pushkey commands.
    expect(text).toMatch(/prepushkey\.ajar = python:\/\S+\/hooks\/hg\/ajar_hg\.py:prepushkey\n/);
    expect(text).toContain(`[ajar]\nurl = ${a.url}\ntoken_file = ${tokenFile}\nuser_var = REMOTE_USER\nrepo = billing\n${END}\n`);

    // Something added after the block by hand stays; the block is replaced, not added again.
    writeFileSync(join(repo.dir, '.hg', 'hgrc'), `${text}[web]\ndescription = billing\n`);
    const again = await install();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`updated Ajar's hook in ${join(repo.dir, '.hg', 'hgrc')} for hg:billing\n`);
    text = hgrc();
    expect(count(text, BEGIN)).toBe(1);
    expect(count(text, END)).toBe(1);
    expect(count(text, 'pretxnclose.ajar')).toBe(1);
    expect(count(text, 'prepushkey.ajar')).toBe(1);
    expect(count(text, '[ajar]')).toBe(1);
    expect(text).toContain('[web]\ndescription = billing\n');
    expect(text).toContain('[phases]\npublish = False\n');
    // Ajar's block is last, so its [hooks] entry is the one that counts.
    expect(text.trimEnd().endsWith(END)).toBe(true);
    // Mercurial reads it as written.
    expect(await hg(['config', '-R', repo.dir, 'ajar.user_var'])).toBe('REMOTE_USER');
    expect(await hg(['config', '-R', repo.dir, 'ajar.repo'])).toBe('billing');
  });

  it('refuses what is not a repository or not a usable setting', async () => {
    const notRepo = await a.cli(['install-hook', 'hg', tempDir('empty-'), '--url', a.url, '--token-file', tokenFile]);
    expect(notRepo.code).not.toBe(0);
    expect(notRepo.stderr).toContain('is not a Mercurial repository (no .hg)');
    const noToken = await install([], join(tempDir('tok-'), 'missing'));
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toContain('does not exist');
    const badVar = await install(['--user-var', 'NOT-A-VAR']);
    expect(badVar.code).not.toBe(0);
    expect(badVar.stderr).toContain('not an environment variable name');
    // Nothing of that changed the hook.
    expect(count(hgrc(), BEGIN)).toBe(1);
    expect(await hg(['config', '-R', repo.dir, 'ajar.user_var'])).toBe('REMOTE_USER');
  });
});

describe('each change of a push is decided for the pusher the server names', () => {
  it('new changesets on default: refused without a grant, allowed with one, landing as drafts', async () => {
    const work = await clone();
    const c = await hgCommit(work, 'on default');
    const no = await push(work);
    expect(no.code).not.toBe(0);
    expect(term(no)).toContain('ajar: push to billing refused for alice: 1 of 1 change(s) not covered by an active grant');
    expect(term(no)).toContain('ajar:   branch default: 1 new changeset(s) needs push; no active grant for push on hg:billing:default');
    expect(term(no)).toContain('ajar:   ajar request --resource hg:billing:default --action push');
    expect(term(no)).toContain('pretxnclose.ajar hook failed');
    expect((await serverLog(repo.dir)).has(c)).toBe(false);

    const grant = await request('hg:billing:default', 'push');
    const ok = await push(work);
    expect(ok.code, term(ok)).toBe(0);
    expect(term(ok)).toContain(`ajar: push to billing allowed for alice: branch default (push, ${grant.grantId})`);
    expect((await serverLog(repo.dir)).get(c)).toBe('default draft');
  });

  it('a new branch stable is refused with the reason, nothing lands; default alone is allowed', async () => {
    const work = await clone();
    const onDefault = await hgCommit(work, 'default again');
    await hg(['branch', '-q', 'stable'], { cwd: work });
    const onStable = await hgCommit(work, 'on stable');
    const r = await push(work, ALICE, ['--new-branch']);
    expect(r.code).not.toBe(0);
    expect(term(r)).toContain('ajar: push to billing refused for alice: 1 of 2 change(s) not covered by an active grant');
    expect(term(r)).toMatch(/ajar: {3}branch default: 1 new changeset\(s\) needs push; allowed by \S+/);
    expect(term(r)).toContain('ajar:   branch stable: 1 new changeset(s) needs push; no active grant for push on hg:billing:stable');
    expect(term(r)).toContain('ajar: the whole push is refused; ask for access with:');
    expect(term(r)).toContain('ajar:   ajar request --resource hg:billing:stable --action push');
    let server = await serverLog(repo.dir);
    expect(server.has(onDefault)).toBe(false);
    expect(server.has(onStable)).toBe(false);

    const alone = await push(work, ALICE, ['-r', onDefault]);
    expect(alone.code, term(alone)).toBe(0);
    expect(term(alone)).toContain('ajar: push to billing allowed for alice: branch default (push');
    server = await serverLog(repo.dir);
    expect(server.get(onDefault)).toBe('default draft');
    expect(server.has(onStable)).toBe(false);
  });

  it('closing a branch needs close-branch on it', async () => {
    const work = await clone();
    await hg(['branch', '-q', 'topic-hook'], { cwd: work });
    const topic = await hgCommit(work, 'topic work');
    await request('hg:billing:topic-*', 'push');
    const opened = await push(work, ALICE, ['--new-branch']);
    expect(opened.code, term(opened)).toBe(0);
    expect((await serverLog(repo.dir)).get(topic)).toBe('topic-hook draft');

    await hg(['commit', '--close-branch', '-m', 'done with topic-hook'], { cwd: work });
    const closing = await hg(['log', '-r', '.', '-T', '{node}'], { cwd: work });
    const r = await push(work);
    expect(r.code).not.toBe(0);
    expect(term(r)).toContain('ajar: push to billing refused for alice: 1 of 2 change(s) not covered by an active grant');
    expect(term(r)).toMatch(/ajar: {3}branch topic-hook: 1 new changeset\(s\) needs push; allowed by \S+/);
    expect(term(r)).toContain('ajar:   branch topic-hook: close the branch needs close-branch; no active grant for close-branch on hg:billing:topic-hook');
    expect((await serverLog(repo.dir)).has(closing)).toBe(false);

    await request('hg:billing:topic-*', 'close-branch');
    const closed = await push(work);
    expect(closed.code, term(closed)).toBe(0);
    expect(term(closed)).toContain('ajar: push to billing allowed for alice: branch topic-hook (push');
    expect(term(closed)).toContain('branch topic-hook (close-branch');
    expect((await serverLog(repo.dir)).get(closing)).toBe('topic-hook draft');
  });

  it('bookmarks: @feature-x is allowed with the grant, release is refused; deleting needs delete', async () => {
    const work = await clone();
    // Bookmarks on a changeset the server has: the push changes only bookmarks.
    await hg(['bookmark', '-r', repo.first, 'feature-x'], { cwd: work });
    const no = await push(work, ALICE, ['-r', repo.first, '-B', 'feature-x']);
    expect(no.code).not.toBe(0);
    expect(term(no)).toContain('ajar:   bookmark feature-x: create the bookmark needs push; no active grant for push on hg:billing:@feature-x');
    expect(await bookmarks()).toBe('');

    await request('hg:billing:@feature-*', 'push');
    // Only a bookmark moves: hg says "no changes found" and exits 1.
    const ok = await push(work, ALICE, ['-r', repo.first, '-B', 'feature-x']);
    expect(term(ok)).toContain('exporting bookmark feature-x');
    expect(term(ok)).toContain('ajar: push to billing allowed for alice: bookmark feature-x (push');
    expect(await bookmarks()).toBe('feature-x');

    await hg(['bookmark', '-r', repo.first, 'release'], { cwd: work });
    const release = await push(work, ALICE, ['-r', repo.first, '-B', 'release']);
    expect(release.code).not.toBe(0);
    expect(term(release)).toContain('ajar:   bookmark release: create the bookmark needs push; no active grant for push on hg:billing:@release');
    expect(term(release)).toContain('ajar:   ajar request --resource hg:billing:@release --action push');
    expect(await bookmarks()).toBe('feature-x');

    await hg(['bookmark', '-d', 'feature-x'], { cwd: work });
    const del = await push(work, ALICE, ['-B', 'feature-x']);
    expect(del.code).not.toBe(0);
    expect(term(del)).toContain('ajar:   bookmark feature-x: delete the bookmark needs delete; no active grant for delete on hg:billing:@feature-x');
    expect(await bookmarks()).toBe('feature-x');
    await request('hg:billing:@feature-*', 'delete');
    const deleted = await push(work, ALICE, ['-B', 'feature-x']);
    expect(term(deleted)).toContain('ajar: push to billing allowed for alice: bookmark feature-x (delete');
    expect(await bookmarks()).toBe('');
  });

  it('publishing needs publish; rewriting a draft needs rewrite; a marker on a public changeset is always refused', async () => {
    const work = await clone();
    const c = await hgCommit(work, 'to publish');
    await hg(['phase', '--public', '-r', c], { cwd: work });
    const no = await push(work);
    expect(no.code).not.toBe(0);
    // Making it public made public its draft ancestors too (those pushed before).
    expect(term(no)).toMatch(/ajar: {3}branch default: publish \d+ draft changeset\(s\) needs publish; no active grant for publish on hg:billing:default/);
    expect((await serverLog(repo.dir)).has(c)).toBe(false);
    await request('hg:billing:default', 'publish');
    const published = await push(work);
    expect(published.code, term(published)).toBe(0);
    expect((await serverLog(repo.dir)).get(c)).toBe('default public');

    const d = await hgCommit(work, 'draft to amend');
    expect((await push(work)).code).toBe(0);
    writeFileSync(join(work, 'change'), 'amended\n');
    await hg(['commit', '--amend', '-m', 'amended'], { cwd: work });
    const amend = await push(work, ALICE, ['--force']);
    expect(amend.code).not.toBe(0);
    expect(term(amend)).toContain(`ajar:   changeset ${d.slice(0, 12)}: obsolete a changeset on default needs rewrite; no active grant for rewrite on hg:billing:default`);
    expect((await serverLog(repo.dir, 'obsolete()')).has(d)).toBe(false);
    await request('hg:billing:default', 'rewrite');
    const amended = await push(work, ALICE, ['--force']);
    expect(amended.code, term(amended)).toBe(0);
    expect((await serverLog(repo.dir, 'obsolete()')).has(d)).toBe(true);

    // With rewrite on default, a marker pruning the public first changeset is still refused.
    await hg(['debugobsolete', repo.first], { cwd: work });
    const pub = await push(work, ALICE, ['--force']);
    expect(pub.code).not.toBe(0);
    expect(term(pub)).toContain('ajar: push to billing refused:');
    expect(term(pub)).toContain(`ajar:   obsolescence marker for public changeset ${repo.first.slice(0, 12)}: public history cannot be rewritten`);
    expect((await serverLog(repo.dir, 'obsolete()')).has(repo.first)).toBe(false);
  });
});

describe('who is pushing', () => {
  it('--user-var gitlab reads GL_USERNAME; REMOTE_USER alone then names nobody and the push is refused', async () => {
    expect((await install(['--user-var', 'gitlab'])).code).toBe(0);
    expect(await hg(['config', '-R', repo.dir, 'ajar.user_var'])).toBe('GL_USERNAME');
    try {
      const work = await clone();
      const c = await hgCommit(work, 'as gitlab');
      const nobody = await push(work, { REMOTE_USER: 'alice' });
      expect(nobody.code).not.toBe(0);
      expect(term(nobody)).toContain('ajar: cannot tell who is pushing: GL_USERNAME is not set by the server');
      expect(term(nobody)).toContain('ajar: the push is refused (Ajar fails closed)');
      expect((await serverLog(repo.dir)).has(c)).toBe(false);
      // bob is named: his own grants count (he has none).
      const bob = await push(work, { GL_USERNAME: 'bob' });
      expect(bob.code).not.toBe(0);
      expect(term(bob)).toContain('ajar: push to billing refused for bob: 1 of 1 change(s) not covered by an active grant');
      const ok = await push(work, { GL_USERNAME: 'alice' });
      expect(ok.code, term(ok)).toBe(0);
      expect(term(ok)).toContain('ajar: push to billing allowed for alice: branch default (push');
      expect((await serverLog(repo.dir)).get(c)).toBe('default draft');
    } finally {
      expect((await install()).code).toBe(0);
    }
  });

  it('a push with no pusher variable at all is refused; a command run on the server host itself is not checked', async () => {
    const work = await clone();
    const c = await hgCommit(work, 'nobody');
    // `hg push <path>` is a push (source "push") even from this host: someone must be named.
    const r = await push(work, {});
    expect(r.code).not.toBe(0);
    expect(term(r)).toContain('ajar: cannot tell who is pushing: REMOTE_USER is not set by the server');
    expect((await serverLog(repo.dir)).has(c)).toBe(false);
    // A commit made in the served repository itself, with no server variable: a local command.
    const before = (await hgEvents()).length;
    await hg(['update', '-q', 'default'], { cwd: repo.dir });
    const local = await hgCommit(repo.dir, 'made on the server host', 'local-file');
    expect((await serverLog(repo.dir)).get(local)).toBe('default draft');
    await hg(['update', '-q', 'null'], { cwd: repo.dir });
    expect((await hgEvents()).length).toBe(before);
    // The same commit in a process that has REMOTE_USER (a web request) but names nobody by user_var is refused.
    expect((await install(['--user-var', 'gitea'])).code).toBe(0);
    try {
      writeFileSync(join(repo.dir, 'web-file'), 'x\n');
      await hg(['add', '-q', 'web-file'], { cwd: repo.dir });
      const web = await runHg(['commit', '-m', 'inside a web request'], { cwd: repo.dir, env: { REMOTE_USER: 'alice' } });
      expect(web.code).not.toBe(0);
      expect(term(web)).toContain('ajar: cannot tell who is pushing: GITEA_PUSHER_NAME is not set by the server');
      await hg(['forget', '-q', 'web-file'], { cwd: repo.dir });
    } finally {
      await hg(['update', '-q', '-C', 'null'], { cwd: repo.dir });
      expect((await install()).code).toBe(0);
    }
  });
});

describe('behind a real hgweb that is not Ajar', () => {
  it('the pusher comes from the REMOTE_USER the web server sets; anonymous pushes, older clients\' pushkeys included, are refused', async () => {
    const web = await startPlainHgweb(repo.dir);
    try {
      const as = (user: string) => `${web.url.replace('//', `//${user}:secret@`)}/auth`;
      const work = join(tempDir('work-'), 'billing');
      await hg(['clone', '-q', `${web.url}/anon`, work]);
      const c = await hgCommit(work, 'over the web');
      const ok = await runHg(['push', '-r', c, as('alice')], { cwd: work });
      expect(ok.code, term(ok)).toBe(0);
      expect(term(ok)).toContain('remote: ajar: push to billing allowed for alice: branch default (push');
      expect((await serverLog(repo.dir)).get(c)).toBe('default draft');

      await hg(['branch', '-q', 'stable'], { cwd: work });
      const s = await hgCommit(work, 'stable over the web');
      const refused = await runHg(['push', '--new-branch', '-r', s, as('alice')], { cwd: work });
      expect(refused.code).not.toBe(0);
      expect(term(refused)).toContain('remote: ajar:   branch stable: 1 new changeset(s) needs push; no active grant for push on hg:billing:stable');
      expect(term(refused)).toContain('remote: ajar:   ajar request --resource hg:billing:stable --action push');
      expect((await serverLog(repo.dir)).has(s)).toBe(false);

      // Nobody named: a changeset, and a bookmark the way older clients push it (a pushkey
      // command, whose transaction has no source to tell it from a local command).
      const anonymous = await runHg(['push', '--new-branch', '-r', s, `${web.url}/anon`], { cwd: work });
      expect(anonymous.code).not.toBe(0);
      expect(term(anonymous)).toContain('remote: ajar: cannot tell who is pushing: REMOTE_USER is not set by the server');
      await hg(['bookmark', '-r', repo.first, 'feature-anon'], { cwd: work });
      const legacy = ['--config', 'devel.legacy.exchange=bundle1', '-r', repo.first, '-B', 'feature-anon'];
      const anonymousMark = await runHg(['push', ...legacy, `${web.url}/anon`], { cwd: work });
      expect(term(anonymousMark)).not.toContain('HTTP Error 500');
      expect(term(anonymousMark)).toContain('remote: ajar: cannot tell who is pushing: REMOTE_USER is not set by the server');
      expect(await bookmarks()).not.toContain('feature-anon');
      // alice, named by the web server, may (she holds push on @feature-*).
      const named = await runHg(['push', ...legacy, as('alice')], { cwd: work });
      expect(term(named)).toContain('remote: ajar: push to billing allowed for alice: bookmark feature-anon (push');
      expect(await bookmarks()).toContain('feature-anon');

      // A grant for one push, used by the push that lands: the hook settles it as the hook account.
      const once = await request('hg:billing:topic-*', 'push', 'erin', ['--uses', '1']);
      const erin = join(tempDir('work-'), 'billing');
      await hg(['clone', '-q', `${web.url}/anon`, erin]);
      await hg(['branch', '-q', 'topic-web'], { cwd: erin });
      const t = await hgCommit(erin, 'topic over the web');
      const used = await runHg(['push', '--new-branch', as('erin')], { cwd: erin });
      expect(used.code, term(used)).toBe(0);
      expect((await serverLog(repo.dir)).get(t)).toBe('topic-web draft');
      expect(term(used)).toContain(`remote: ajar: grant ${once.grantId}: this push takes its last use; the grant ends when the push lands`);
      expect(await a.json(['grants', once.grantId])).toMatchObject({ state: 'consumed', uses: 1 });
    } finally {
      await web.stop();
    }
  });
});

describe('use-bound grants', () => {
  it('an allowed push holds the last use until its hook settles it: given back if it did not commit, counted after 15 minutes if never settled', async () => {
    const once = await request('hg:billing:topic-*', 'push', 'erin', ['--uses', '1']);
    const hook = await a.token('hg-hooks');
    const ask = async () =>
      (await a.api('POST', '/v1/hg/push', { token: hook, body: { repo: 'billing', user: 'erin', changes: [{ type: 'changesets', branch: 'topic-held', nodes: [], count: 1 }] } })).body;
    const settle = async (reservation: string, committed: boolean) =>
      (await a.api('POST', '/v1/hg/push/settle', { token: hook, body: { repo: 'billing', user: 'erin', reservation, committed } })).body;

    const first = await ask();
    expect(first).toMatchObject({ allow: true, reservation: expect.stringMatching(/^ajpu_/) });
    // While the first push is in flight, its use is taken.
    expect(await ask()).toMatchObject({ allow: false });
    // It did not commit: the use comes back, and the grant is untouched.
    expect(await settle(first.reservation, false)).toEqual({ settled: 1 });
    expect(await a.json(['grants', once.grantId])).toMatchObject({ state: 'active', uses: 0 });

    const second = await ask();
    expect(second).toMatchObject({ allow: true });
    const start = a.now();
    try {
      // Its hook never says: after 15 minutes the use counts (fail closed), and the grant has ended.
      a.advance(16 * 60);
      expect(await ask()).toMatchObject({ allow: false });
      expect(await a.json(['grants', once.grantId])).toMatchObject({ state: 'consumed', uses: 1 });
      // A late word changes nothing: the use is not counted twice.
      expect(await settle(second.reservation, true)).toEqual({ settled: 0 });
      expect(await a.json(['grants', once.grantId])).toMatchObject({ uses: 1 });
      const consumed = (await a.json(['audit', '--local', '--type', 'grant.consumed'])) as any[];
      expect(consumed.filter((e) => e.grantId === once.grantId)).toHaveLength(1);
    } finally {
      a.setClock(start);
    }
  });
});

describe('Ajar fails closed', () => {
  it('Ajar unreachable, a token that is not a hook account\'s, or an unreadable token file refuse the push', async () => {
    const work = await clone();
    const c = await hgCommit(work, 'closed');
    const before = (await hgEvents()).length;

    await a.stop();
    try {
      const down = await push(work);
      expect(down.code).not.toBe(0);
      expect(term(down)).toMatch(/ajar: cannot reach Ajar at http:\/\/127\.0\.0\.1:\d+ \(.+\)/);
      expect(term(down)).toContain('ajar: the push is refused (Ajar fails closed)');
      expect((await serverLog(repo.dir)).has(c)).toBe(false);
    } finally {
      await a.start();
    }

    const aliceToken = join(tempDir('tok-'), 'alice');
    writeFileSync(aliceToken, await a.token('alice'));
    expect((await install([], aliceToken)).code).toBe(0);
    try {
      const notHook = await push(work);
      expect(notHook.code).not.toBe(0);
      expect(term(notHook)).toContain('ajar: Ajar refused the question (HTTP 403: alice is not a hook account (config hg.hook_accounts))');
      expect(term(notHook)).toContain('ajar: the push is refused (Ajar fails closed)');
      expect((await serverLog(repo.dir)).has(c)).toBe(false);
    } finally {
      expect((await install()).code).toBe(0);
    }

    renameSync(tokenFile, `${tokenFile}.away`);
    try {
      const unreadable = await push(work);
      expect(unreadable.code).not.toBe(0);
      expect(term(unreadable)).toContain('ajar: cannot read the hook account token file');
      expect((await serverLog(repo.dir)).has(c)).toBe(false);
    } finally {
      renameSync(`${tokenFile}.away`, tokenFile);
    }
    // Only the question with the wrong token reached Ajar, and it was turned away before any decision.
    expect((await hgEvents()).length).toBe(before);

    const ok = await push(work);
    expect(ok.code, term(ok)).toBe(0);
    expect((await serverLog(repo.dir)).get(c)).toBe('default draft');
  });
});

describe('audit', () => {
  it('every decision is an hg.push event by the hook account for the pusher, with transport hook and each change', async () => {
    const pushes = (await hgEvents()).filter((e) => e.type === 'hg.push');
    expect(pushes.length).toBeGreaterThan(0);
    for (const e of pushes) expect(e).toMatchObject({ actor: 'hg-hooks', resource: 'hg:billing', details: { transport: 'hook' } });
    expect(new Set(pushes.map((e) => e.subject))).toEqual(new Set(['alice', 'bob', 'erin']));
    const allowed = pushes.find((e) => e.outcome === 'allow' && e.action === 'push');
    expect(allowed.details.changes).toEqual([expect.objectContaining({ type: 'changesets', branch: 'default', count: 1, action: 'push', grantId: allowed.grantId })]);
    const stable = pushes.find((e) => e.outcome === 'deny' && e.reason === 'no active grant for push on hg:billing:stable');
    expect(stable.details.changes.map((c: any) => [c.branch, c.action, c.grantId === null])).toEqual([
      ['default', 'push', false],
      ['stable', 'push', true],
    ]);
    const bookmark = pushes.find((e) => e.outcome === 'allow' && e.details.changes.some((c: any) => c.type === 'bookmark' && c.op === 'create'));
    expect(bookmark.details.changes).toEqual([expect.objectContaining({ type: 'bookmark', bookmark: 'feature-x', op: 'create', old: null, new: repo.first, action: 'push' })]);
    expect(pushes.find((e) => e.outcome === 'deny' && e.reason?.startsWith('obsolescence marker for public changeset'))).toBeDefined();
    expect(pushes.find((e) => e.outcome === 'allow' && e.action.includes('close-branch'))).toBeDefined();
  });
});

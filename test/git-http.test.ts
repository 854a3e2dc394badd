// Plain git against Ajar's smart-HTTP gateway: real git client, real
// `git http-backend`, Ajar's pre-receive hook deciding each ref.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, isPostgres, run, startAjar } from './support/ajar.js';
import { commit, git, gitConfig, makeRepo, repoUrl, reposOf, runGit, tempDir } from './support/git.js';
import { rawHttp } from './support/raw-http.js';
import { rawPush, receivePackBody, ZERO } from './support/receive-pack.js';

let a: Ajar;
let repo: { dir: string; main: string };
let outside: string;

const config = gitConfig((doc) => {
  doc.setIn(['resources'], [...(doc.getIn(['resources']) as any).toJSON(), { id: 'git:link' }, { id: 'git:ghost' }, { id: 'git:archive' }]);
  const rules = (doc.getIn(['policy', 'rules']) as any).toJSON();
  for (const r of rules) {
    if (r.name === 'release-push') r.request_on_deny = true;
    if (r.name === 'developer-read') r.resources.push('git:link', 'git:ghost');
  }
  rules.push(
    // Reading the archive needs a lead's approval; a refused clone files the request.
    { name: 'archive-read', who: { groups: ['eng'] }, resources: ['git:archive'], actions: ['read'], max_duration: '8h', approval: { groups: ['leads'] }, request_on_deny: true },
    { name: 'main-and-head', who: { users: ['alice'] }, resources: ['git:payments:main', 'git:payments:HEAD'], actions: ['push'], max_duration: '1h', approval: 'auto' },
    // dave (QA) reads payments; a QA fix branch needs a lead, and a refused push asks for it.
    { name: 'qa-fixes', who: { users: ['dave'] }, resources: ['git:payments:qa/*'], actions: ['push'], max_duration: '1h', approval: { groups: ['leads'] }, request_on_deny: true },
    { name: 'tags', who: { groups: ['eng'] }, resources: ['git:payments:refs/tags/v*'], actions: ['tag', 'force-push', 'delete'], max_duration: '1h', approval: 'auto' },
  );
  doc.setIn(['policy', 'rules'], rules);
  // Tests move the clock past a grant's end and back; a sweep in between would write the
  // grant down as expired for good. Decisions never wait for the sweep, so it runs at start only.
  doc.set('workers', { sweep_interval: '1d' });
});

async function request(resource: string, action: string, extra: string[] = [], as = 'alice') {
  return a.json(['request', '--resource', resource, '--action', action, '--duration', '1h', '--reason', 'test', ...extra], { as });
}

async function clone(user = 'alice', version = 2): Promise<string> {
  const work = tempDir('clone-');
  await git(['-c', `protocol.version=${version}`, 'clone', '-q', await repoUrl(a, 'payments', user), work]);
  return work;
}

const refOf = (ref: string) => runGit(['--git-dir', repo.dir, 'rev-parse', '--verify', '-q', ref]).then((r) => r.stdout.trim() || null);
const pushEvents = async () => (await a.json(['audit', '--local', '--type', 'git.push'])) as any[];

beforeAll(async () => {
  a = await startAjar({ config });
  repo = await makeRepo(a, 'payments');
  outside = (await makeRepo(a, 'ghost')).dir; // a real repository, reached below only through a link
});
afterAll(() => a?.stop());

describe('clone and fetch', () => {
  it('a clone needs a read grant: refused with what to ask, then works with protocol v0, v1 and v2', async () => {
    const r = await runGit(['clone', await repoUrl(a, 'payments', 'alice'), tempDir('clone-')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('remote: ajar: alice has no active grant to read git:payments');
    expect(r.stderr).toContain('ajar request --resource git:payments --action read');
    await request('git:payments', 'read');
    for (const v of [0, 1, 2]) {
      const work = await clone('alice', v);
      expect(await git(['rev-parse', 'HEAD'], { cwd: work })).toBe(repo.main);
    }
    // Each step is audited, with the protocol the client asked for (git 2.39 asks for v2
    // unless told otherwise): v0 and v1 advertise
    // and send one pack request; v2 advertises capabilities, then ls-refs, then fetch.
    const fetches = (await a.json(['audit', '--local', '--type', 'git.fetch'])) as any[];
    const steps = fetches.map((e) => `${e.outcome} ${e.details.step} ${e.details.protocol ?? 'v0'}`);
    expect(steps).toEqual([
      'deny advertisement version=2',
      'allow advertisement v0',
      'allow upload-pack v0',
      'allow advertisement version=1',
      'allow upload-pack version=1',
      'allow advertisement version=2',
      'allow upload-pack version=2',
      'allow upload-pack version=2',
    ]);
    expect(fetches[1]).toMatchObject({ subject: 'alice', resource: 'git:payments', action: 'read', details: { transport: 'http' } });
    expect(fetches[1].grantId).toMatch(/^grt_/);
    // The server really speaks v2 when asked.
    const trace = await runGit(['-c', 'protocol.version=2', 'ls-remote', await repoUrl(a, 'payments', 'alice')], { env: { GIT_TRACE_PACKET: '1' } });
    expect(trace.stderr).toContain('git< version 2');
    // A fetch that skips the advertisement is audited all the same.
    const before = ((await a.json(['audit', '--local', '--type', 'git.fetch'])) as any[]).length;
    const direct = await fetch(`${a.url}/git/payments.git/git-upload-pack`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`alice:${await a.token('alice')}`).toString('base64')}`, 'content-type': 'application/x-git-upload-pack-request', 'git-protocol': 'version=2' },
      body: '0014command=ls-refs\n0000',
    });
    expect(direct.status).toBe(200);
    expect(await direct.text()).toContain(`${repo.main} refs/heads/main`);
    const after = (await a.json(['audit', '--local', '--type', 'git.fetch'])) as any[];
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)).toMatchObject({ outcome: 'allow', details: { step: 'upload-pack', protocol: 'version=2' } });
  });

  it('a refused clone files the request where the rule says so, once', async () => {
    await makeRepo(a, 'archive');
    const first = await runGit(['clone', await repoUrl(a, 'archive', 'erin'), tempDir('clone-')]);
    expect(first.code).not.toBe(0);
    const id = /remote: ajar: filed request (req_\w+) for read on git:archive; it waits for approval/.exec(first.stderr)?.[1];
    expect(id, first.stderr).toBeDefined();
    const again = await runGit(['clone', await repoUrl(a, 'archive', 'erin'), tempDir('clone-')]);
    expect(again.stderr).toContain(`remote: ajar: your request ${id} for read on git:archive is waiting for approval`);
    const mine = (await a.json(['requests', '--state', 'pending'], { as: 'erin' })) as any[];
    expect(mine.filter((r) => r.resources.includes('git:archive')).map((r) => r.id)).toEqual([id]);
    await a.json(['approve', id!, '--reason', 'ok'], { as: 'bob' });
    await git(['clone', '-q', await repoUrl(a, 'archive', 'erin'), tempDir('clone-')]);
  });

  it('asks for credentials; a wrong token, or a token under another name, is refused; identity headers change nothing', async () => {
    const base = `${a.url}/git/payments.git/info/refs?service=git-upload-pack`;
    const none = await fetch(base, { headers: { 'remote-user': 'alice', 'x-forwarded-user': 'alice' } });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="Ajar"/);
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    expect((await fetch(base, { headers: { authorization: basic('alice', 'ajar_wrong') } })).status).toBe(401);
    expect((await fetch(base, { headers: { authorization: basic('bob', await a.token('alice')) } })).status).toBe(401);
    // dave has no grant; claiming to be alice in a header does not lend him hers.
    const spoof = await fetch(base, { headers: { authorization: basic('dave', await a.token('dave')), 'remote-user': 'alice', 'x-forwarded-user': 'alice' } });
    expect(spoof.status).toBe(403);
    expect(await spoof.text()).toContain('dave has no active grant to read git:payments');
    // Nor on a push: dave may not read payments yet, so the push stops at the gateway.
    const push = await fetch(`${a.url}/git/payments.git/git-receive-pack`, {
      method: 'POST',
      headers: { authorization: basic('dave', await a.token('dave')), 'remote-user': 'alice', 'x-forwarded-user': 'alice', 'content-type': 'application/x-git-receive-pack-request' },
      body: '0000',
    });
    expect(push.status).toBe(403);
    expect(await push.text()).toContain('dave has no active grant to push to git:payments');
    const r = await runGit(['clone', `${a.url}/git/payments.git`, tempDir('clone-')]);
    expect(r.stderr).toMatch(/could not read Username|Authentication failed/);
  });

  it('only smart HTTP is served: dumb paths, info/refs without a service, upload-archive and a repeated service parameter are refused', async () => {
    const auth = { authorization: `Basic ${Buffer.from(`alice:${await a.token('alice')}`).toString('base64')}` };
    const status = async (path: string, method = 'GET') => (await fetch(`${a.url}${path}`, { method, headers: auth })).status;
    expect(await status('/git/payments.git/HEAD')).toBe(404);
    expect(await status('/git/payments.git/objects/info/packs')).toBe(404);
    expect(await status('/git/payments.git/info/refs')).toBe(400);
    expect(await status('/git/payments.git/info/refs?service=git-upload-archive')).toBe(400);
    expect(await status('/git/payments.git/git-upload-archive', 'POST')).toBe(404);
    expect(await status('/git/payments.git/info/refs?service=git-upload-pack&service=git-receive-pack')).toBe(400);
    expect(await status('/git/payments.git/info/refs?service=git-receive-pack&service=git-upload-pack')).toBe(400);
    expect(await status('/git/payments.git/git-upload-pack')).toBe(405);
    expect(await status('/git/payments.git/info/refs?service=git-upload-pack')).toBe(200);
  });

  it('paths that reach outside the root or alias a repository get the answer of a repository that does not exist', async () => {
    await request('git:link', 'read');
    await request('git:ghost', 'read');
    // ghost is a real repository outside the served root; link.git points at it.
    symlinkSync(outside, join(reposOf(a), 'link.git'));
    const token = await a.token('alice');
    // Raw requests: fetch() would normalise `..` away before the server saw it.
    const ask = async (name: string) => {
      const res = await rawHttp(a.url, 'GET', `/git/${name}.git/info/refs?service=git-upload-pack`, { authorization: `Basic ${Buffer.from(`alice:${token}`).toString('base64')}` });
      return { status: res.status, text: res.text.replaceAll(`git:${name}`, 'git:NAME') };
    };
    const missing = await ask('nothere');
    expect(missing.status).toBe(403);
    for (const name of ['..', '../payments', '%2e%2e/payments', 'Payments', 'PAYMENTS', '-payments', 'payments.git/payments', '.payments', '/payments', 'link']) {
      expect(await ask(name), name).toEqual(missing);
    }
    // The same request shape with aliasing slashes is not a repository URL at all, whatever the repository.
    for (const path of ['/git/payments.git//info/refs', '/git/payments.git/./info/refs', '/git/payments.git/info/refs/']) {
      const res = await rawHttp(a.url, 'GET', `${path}?service=git-upload-pack`, { authorization: `Basic ${Buffer.from(`alice:${token}`).toString('base64')}` });
      expect(res.status, path).toBe(404);
    }
    // The control: with the grant, the real name is served.
    expect((await ask('payments')).status).toBe(200);
  });
});

describe('push', () => {
  it('each pushed ref needs a grant for what the update does: create and fast-forward are push; force, delete and tags need their own', async () => {
    const work = await clone();
    await request('git:payments:feature/**', 'push');
    const c1 = await commit(work);
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/feature/one'], { cwd: work })).code).toBe(0);
    const c2 = await commit(work);
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/feature/one'], { cwd: work })).code).toBe(0);
    expect(await refOf('refs/heads/feature/one')).toBe(c2);

    await git(['reset', '-q', '--hard', c1], { cwd: work });
    const c3 = await commit(work, 'other');
    const force = await runGit(['push', '-f', 'origin', 'HEAD:refs/heads/feature/one'], { cwd: work });
    expect(force.code).not.toBe(0);
    expect(force.stderr).toContain('refs/heads/feature/one: non-fast-forward (force) needs force-push; no active grant for force-push on git:payments:feature/one');
    const del = await runGit(['push', 'origin', ':refs/heads/feature/one'], { cwd: work });
    expect(del.stderr).toContain('refs/heads/feature/one: delete needs delete; no active grant for delete on git:payments:feature/one');
    const tag = await runGit(['push', 'origin', `${c3}:refs/tags/v1`], { cwd: work });
    expect(tag.stderr).toContain('refs/tags/v1: create tag needs tag; no active grant for tag on git:payments:refs/tags/v1');
    expect(await refOf('refs/heads/feature/one')).toBe(c2);
    expect(await refOf('refs/tags/v1')).toBeNull();

    await request('git:payments:feature/**', 'force-push');
    await request('git:payments:feature/**', 'delete');
    await request('git:payments:refs/tags/v*', 'tag');
    expect((await runGit(['push', '-f', 'origin', 'HEAD:refs/heads/feature/one'], { cwd: work })).code).toBe(0);
    expect(await refOf('refs/heads/feature/one')).toBe(c3);
    expect((await runGit(['push', 'origin', `${c3}:refs/tags/v1`], { cwd: work })).code).toBe(0);
    // Moving a tag is a force-push on the tag.
    const move = await runGit(['push', '-f', 'origin', `${c2}:refs/tags/v1`], { cwd: work });
    expect(move.stderr).toContain('refs/tags/v1: move tag needs force-push');
    expect((await runGit(['push', 'origin', ':refs/heads/feature/one'], { cwd: work })).code).toBe(0);
    expect(await refOf('refs/heads/feature/one')).toBeNull();
  });

  it('a push with one uncovered ref is refused whole, with or without --atomic, with one line per ref', async () => {
    const work = await clone();
    const c = await commit(work);
    for (const atomic of [[], ['--atomic']]) {
      const r = await runGit(['push', ...atomic, 'origin', 'HEAD:refs/heads/feature/mixed', 'HEAD:refs/heads/release/2.4'], { cwd: work });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('push to payments refused for alice: 1 of 2 change(s) not covered by an active grant');
      expect(r.stderr).toMatch(/refs\/heads\/feature\/mixed: create needs push; allowed by grt_/);
      expect(r.stderr).toContain('refs/heads/release/2.4: create needs push; no active grant for push on git:payments:release/2.4');
      expect(await refOf('refs/heads/feature/mixed')).toBeNull();
      expect(await refOf('refs/heads/release/2.4')).toBeNull();
    }
    expect(c).toMatch(/^[0-9a-f]{40}$/);
  });

  it('a push larger than http.postBuffer (git probes with a 4-byte POST first) is decided like any other', async () => {
    const work = await clone();
    await git(['reset', '-q', '--hard', repo.main], { cwd: work });
    // Incompressible, above git's 1 MiB http.postBuffer: git sends its probe, then the pack.
    const big = await commit(work, 'big.bin', randomBytes(3 * 1024 * 1024).toString('base64'));
    const receivePacks = () => (a.serverLog().match(/"path":"\/git\/payments\.git\/git-receive-pack"/g) ?? []).length;
    const before = receivePacks();
    const ok = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/big'], { cwd: work });
    expect(ok.code).toBe(0);
    expect(await refOf('refs/heads/feature/big')).toBe(big);
    // The gateway logs a request once its answer is out: the line can reach this process after git exited.
    for (let i = 0; i < 100 && receivePacks() - before < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(receivePacks() - before).toBe(2);
    const refused = await runGit(['push', 'origin', 'HEAD:refs/heads/locked/big'], { cwd: work });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('no active grant for push on git:payments:locked/big');
    expect(await refOf('refs/heads/locked/big')).toBeNull();
  });

  // Run once (on the embedded database, the larger process): it moves 256 MB.
  if (!isPostgres()) it('a 256 MB push streams through: the gateway and its spawner grow by far less than the push', async () => {
    await request('git:payments', 'read');
    await request('git:payments:feature/**', 'push');
    const work = await clone();
    const fd = openSync(join(work, 'big.bin'), 'w');
    for (let i = 0; i < 256; i++) writeSync(fd, randomBytes(1024 * 1024));
    closeSync(fd);
    await git(['add', 'big.bin'], { cwd: work });
    await git(['-c', 'core.compression=0', 'commit', '-q', '-m', 'big'], { cwd: work });
    // Ajar's process and the spawner it starts (which relays git http-backend's streams).
    const pids = () => {
      const main = a.pid()!;
      const children = readdirSync(`/proc/${main}/task`).flatMap((t) => readFileSync(`/proc/${main}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
      return [main, ...children.filter((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('spawner-main'))];
    };
    const rss = () => pids().reduce((sum, p) => sum + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024, 0);
    expect(pids()).toHaveLength(2);
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 25);
    try {
      const r = await runGit(['-c', 'pack.compression=0', 'push', 'origin', 'HEAD:refs/heads/feature/big-256'], { cwd: work });
      expect(r.code, r.stderr).toBe(0);
    } finally {
      clearInterval(sampler);
    }
    expect(await refOf('refs/heads/feature/big-256')).not.toBeNull();
    // Buffered, the 256 MB pack would show whole; streamed, the processes grow by their buffers and garbage.
    const grew = `grew ${((peak - before) / 2 ** 20).toFixed(1)} MB from ${(before / 2 ** 20).toFixed(0)} MB`;
    expect(peak - before, grew).toBeLessThan(96 * 1024 * 1024);
  }, 180_000);

  it('names that only look like a granted ref are refused: MAIN, refs/tags/main, refs/heads/HEAD, release-x and releases/1', async () => {
    const work = await clone();
    await request('git:payments:main', 'push');
    const rel = await request('git:payments:release/*', 'push');
    await a.json(['approve', rel.id, '--reason', 'ok'], { as: 'bob' });
    await request('git:payments:HEAD', 'push');
    await git(['fetch', '-q', 'origin'], { cwd: work });
    await git(['reset', '-q', '--hard', 'origin/main'], { cwd: work });
    const c = await commit(work);
    for (const [ref, why] of [
      ['refs/heads/MAIN', 'no active grant for push on git:payments:MAIN'],
      ['refs/tags/main', 'no active grant for tag on git:payments:refs/tags/main'],
      ['refs/heads/HEAD', 'a branch may not be called HEAD'],
      ['refs/heads/release-x', 'no active grant for push on git:payments:release-x'],
      ['refs/heads/releases/1', 'no active grant for push on git:payments:releases/1'],
      ['refs/heads/release/2.4/x', 'no active grant for push on git:payments:release/2.4/x'],
    ]) {
      const r = await runGit(['push', 'origin', `HEAD:${ref}`], { cwd: work });
      expect(r.code, ref).not.toBe(0);
      expect(r.stderr, ref).toContain(why);
      expect(await refOf(ref!), ref).toBeNull();
    }
    // The controls: the granted names themselves.
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/release/2.4'], { cwd: work })).code).toBe(0);
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: work })).code).toBe(0);
    expect(await refOf('refs/heads/main')).toBe(c);
    repo.main = c;
  });

  it('a new branch named like an existing one in another case is checked as that one too (loose and packed refs)', async () => {
    // On a case-insensitive file system feature/guarded would be FEATURE/guarded.
    await git(['--git-dir', repo.dir, 'update-ref', 'refs/heads/FEATURE/packed', repo.main]);
    await git(['--git-dir', repo.dir, 'pack-refs', '--all']);
    await git(['--git-dir', repo.dir, 'update-ref', 'refs/heads/FEATURE/guarded', repo.main]);
    await request('git:payments:feature/**', 'push');
    const work = await clone();
    await git(['reset', '-q', '--hard', repo.main], { cwd: work });
    await commit(work);
    for (const name of ['guarded', 'packed']) {
      const r = await runGit(['push', 'origin', `HEAD:refs/heads/feature/${name}`], { cwd: work });
      expect(r.code, name).not.toBe(0);
      expect(r.stderr).toContain(`no active grant for push on git:payments:FEATURE/${name}`);
      expect(await refOf(`refs/heads/feature/${name}`)).toBeNull();
    }
    // The control: a name no ref has in any case.
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/feature/unguarded'], { cwd: work })).code).toBe(0);
  });

  it('a symbolic ref cannot carry a push to a branch the grant does not cover', async () => {
    await git(['--git-dir', repo.dir, 'symbolic-ref', 'refs/heads/feature/alias', 'refs/heads/locked/9']);
    await git(['--git-dir', repo.dir, 'update-ref', 'refs/heads/locked/9', repo.main]);
    const work = await clone();
    await git(['reset', '-q', '--hard', repo.main], { cwd: work });
    await commit(work);
    const r = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/alias'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no active grant for push on git:payments:locked/9');
    expect(await refOf('refs/heads/locked/9')).toBe(repo.main);
    await git(['--git-dir', repo.dir, 'symbolic-ref', '-d', 'refs/heads/feature/alias']);
  });

  it('a grant for one push is consumed by the first push it allows', async () => {
    const dave = (await a.json(['request', '--resource', 'git:payments', '--action', 'read', '--duration', '1h', '--reason', 'qa'], { as: 'dave' })) as any;
    expect(dave.state).toBe('approved');
    // erin (eng) asks for one push on feature branches.
    await request('git:payments', 'read', [], 'erin');
    const once = await request('git:payments:feature/**', 'push', ['--uses', '1'], 'erin');
    const work = await clone('erin');
    await commit(work);
    const first = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/erin'], { cwd: work });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`grant ${once.grantId}: its last use is this push; it has ended`);
    await commit(work);
    const second = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/erin'], { cwd: work });
    expect(second.code).not.toBe(0);
    const g = await a.json(['grants', '--user', 'erin', '--state', 'consumed'], { as: 'carol' });
    expect(g.map((x: any) => x.id)).toContain(once.grantId);
  });

  it('a grant that ends between the ref advertisement and the POST, or during the push, allows nothing', async () => {
    await request('git:payments', 'read', [], 'erin');
    const g = await request('git:payments:feature/**', 'push', [], 'erin');
    expect(g.state).toBe('approved');
    const token = await a.token('erin');
    const work = await clone('erin');
    const tip = await commit(work, 'late');
    const body = receivePackBody(work, [{ old: ZERO, new: tip, ref: 'refs/heads/feature/late' }]);
    const url = `${a.url}/git/payments.git/git-receive-pack`;
    const start = a.now();
    try {
      // Ends mid-push: the gateway let the POST in; the hook, at the end, finds the grant over.
      const logBefore = a.serverLog().split('git push started').length;
      const mid = await rawPush(url, body, {
        user: 'erin',
        token,
        chunked: true,
        midway: async () => {
          while (a.serverLog().split('git push started').length === logBefore) await new Promise((r) => setTimeout(r, 20));
          a.advance(3601);
        },
      });
      expect(mid.status).toBe(200);
      expect(mid.text).toContain('ng refs/heads/feature/late pre-receive hook declined');
      expect(await refOf('refs/heads/feature/late')).toBeNull();
      // Ends between info/refs and the POST: the POST itself is refused.
      a.setClock(start);
      const adv = await fetch(`${url.replace('git-receive-pack', 'info/refs')}?service=git-receive-pack`, {
        headers: { authorization: `Basic ${Buffer.from(`erin:${token}`).toString('base64')}` },
      });
      expect(adv.status).toBe(200);
      a.advance(3601);
      const late = await rawPush(url, body, { user: 'erin', token });
      expect(late.status).toBe(403);
      expect(late.text).toContain('erin has no active grant to push to git:payments');
    } finally {
      a.setClock(start);
    }
  });

  it('gzip-encoded, chunked and push-certificate bodies are decided by the hook all the same', async () => {
    await request('git:payments:feature/**', 'push');
    const token = await a.token('alice');
    const work = await clone();
    await git(['reset', '-q', '--hard', repo.main], { cwd: work });
    const tip = await commit(work, 'raw');
    const url = `${a.url}/git/payments.git/git-receive-pack`;
    const cases = [{ gzip: true }, { chunked: true }, { gzip: true, chunked: true }, { pushCert: true }];
    for (const [i, c] of cases.entries()) {
      const locked = receivePackBody(work, [{ old: ZERO, new: tip, ref: 'refs/heads/locked' }], c);
      const refused = await rawPush(url, locked, { user: 'alice', token, ...c });
      expect(refused.text, JSON.stringify(c)).toContain('ng refs/heads/locked pre-receive hook declined');
      expect(await refOf('refs/heads/locked')).toBeNull();
      // The control: the same body to a granted branch is accepted, so it was read.
      const ok = receivePackBody(work, [{ old: ZERO, new: tip, ref: `refs/heads/feature/raw-${i}` }], c);
      expect((await rawPush(url, ok, { user: 'alice', token, ...c })).text, JSON.stringify(c)).toContain(`ok refs/heads/feature/raw-${i}`);
    }
  });

  it('a refused push files the request where the policy says so, once', async () => {
    const work = await clone('erin');
    await commit(work);
    const r = await runGit(['push', 'origin', 'HEAD:refs/heads/release/3.0'], { cwd: work });
    const id = /filed request (req_\w+) for push on git:payments:release\/3\.0/.exec(r.stderr)?.[1];
    expect(id, r.stderr).toBeDefined();
    const again = await runGit(['push', 'origin', 'HEAD:refs/heads/release/3.0'], { cwd: work });
    expect(again.stderr).toContain(`your request ${id} for push on git:payments:release/3.0 is waiting for approval`);
    const mine = await a.json(['requests', '--state', 'pending'], { as: 'erin' });
    expect(mine.filter((q: any) => q.resources.includes('git:payments:release/3.0'))).toHaveLength(1);
    await a.json(['approve', id!, '--reason', 'ok'], { as: 'bob' });
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/release/3.0'], { cwd: work })).code).toBe(0);
  });

  it('a reader who may not push is told which ref needs what, the exact command, and gets the request filed where the rule says so', async () => {
    await request('git:payments', 'read', [], 'dave');
    const work = await clone('dave');
    await commit(work);
    const other = await runGit(['push', 'origin', 'HEAD:refs/heads/feature/dave'], { cwd: work });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('remote: ajar:   refs/heads/feature/dave: create needs push; no active grant for push on git:payments:feature/dave');
    expect(other.stderr).toContain('remote: ajar:   ajar request --resource git:payments:feature/dave --action push --duration 1h');
    const qa = await runGit(['push', 'origin', 'HEAD:refs/heads/qa/1'], { cwd: work });
    expect(qa.code).not.toBe(0);
    const id = /filed request (req_\w+) for push on git:payments:qa\/1/.exec(qa.stderr)?.[1];
    expect(id, qa.stderr).toBeDefined();
    await a.json(['approve', id!, '--reason', 'ok'], { as: 'bob' });
    expect((await runGit(['push', 'origin', 'HEAD:refs/heads/qa/1'], { cwd: work })).code).toBe(0);
    // Without even a read grant the push stops at the gateway, as for a repository that does not exist.
    const ghost = await runGit(['push', await repoUrl(a, 'ghost', 'dave'), 'HEAD:refs/heads/qa/1'], { cwd: work });
    expect(ghost.stderr).toContain('dave has no active grant to push to git:ghost');
  });

  it('the repository\'s own hooks still run, without the push session', async () => {
    const dir = tempDir('hook-');
    const hooks = ['pre-receive', 'update', 'post-receive'];
    for (const h of hooks) {
      writeFileSync(join(repo.dir, 'hooks', h), `#!/bin/sh\n${h === 'update' ? 'echo "$3 $1"' : 'cat'} > ${dir}/${h}\nenv > ${dir}/${h}.env\n`);
      chmodSync(join(repo.dir, 'hooks', h), 0o755);
    }
    try {
      await request('git:payments:feature/**', 'push');
      const work = await clone();
      const tip = await commit(work);
      expect((await runGit(['push', 'origin', 'HEAD:refs/heads/feature/hooked'], { cwd: work })).code).toBe(0);
      const { readFileSync } = await import('node:fs');
      for (const h of hooks) {
        expect(readFileSync(join(dir, h), 'utf8'), h).toContain(`${tip} refs/heads/feature/hooked`);
        // The session would let a repository's hook speak for the pusher to Ajar.
        expect(readFileSync(join(dir, `${h}.env`), 'utf8'), h).not.toMatch(/AJAR_PUSH_SESSION|AJAR_HOOK_URL|ajps_/);
      }
    } finally {
      for (const h of hooks) rmSync(join(repo.dir, 'hooks', h));
    }
  });

  it('a push session answers one question: a second ask with it is refused', async () => {
    await request('git:payments:feature/**', 'push');
    // SSH mode's authorize hands a hook account the session, as the gateway hands it to its hook.
    const auth = await fetch(`${a.url}/v1/git/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await a.token('git-hooks')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice', repo: 'payments', service: 'git-receive-pack', exists: true }),
    });
    const { session } = (await auth.json()) as { session: string };
    expect(session).toMatch(/^ajps_/);
    const ask = () =>
      fetch(`${a.url}/v1/git/pre-receive`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session}`, 'content-type': 'text/plain' },
        body: `repo payments\nupdate ${ZERO} ${repo.main} refs/heads/feature/asked-once\n`,
      }).then((r) => r.text());
    expect(await ask()).toMatch(/^allow\n/);
    expect(await ask()).toBe('deny\nthis push has no valid Ajar session; push again\n');
  });

  it("the gateway's shell hook refuses when it cannot ask Ajar, or was not started by Ajar (fails closed)", async () => {
    const hook = join(import.meta.dirname, '..', 'hooks', 'git', 'pre-receive');
    const update = `${repo.main} ${ZERO} refs/heads/feature/x\n`;
    const env = { PATH: process.env.PATH, GIT_DIR: repo.dir, AJAR_GIT_REPO: 'payments', AJAR_PUSH_SESSION: 'ajps_x' };
    // A loopback port where nothing listens.
    const down = await run('bash', [hook], { ...env, AJAR_HOOK_URL: 'http://127.0.0.1:9' }, update);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('ajar: cannot reach Ajar at http://127.0.0.1:9');
    expect(down.stderr).toContain('the push is refused (Ajar fails closed)');
    // Ajar answering that it cannot decide.
    const noSession = await run('bash', [hook], { ...env, AJAR_HOOK_URL: `http://127.0.0.1:${new URL(a.url).port}` }, update);
    expect(noSession.code).toBe(1);
    expect(noSession.stderr).toContain('this push has no valid Ajar session');
    const { AJAR_PUSH_SESSION: _, ...without } = env;
    const outside = await run('bash', [hook], { ...without, AJAR_HOOK_URL: `http://127.0.0.1:${new URL(a.url).port}` }, update);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('this push did not come through Ajar (no session)');
  });

  it('every push is audited with the pusher, refs, old and new ids, and the grant that allowed each', async () => {
    const events = await pushEvents();
    const allowed = events.find((e) => e.outcome === 'allow' && e.details.refs.some((r: any) => r.ref === 'refs/heads/release/2.4'));
    expect(allowed).toMatchObject({ subject: 'alice', resource: 'git:payments', details: { transport: 'http' } });
    const ref = allowed.details.refs[0];
    expect(ref).toMatchObject({ ref: 'refs/heads/release/2.4', old: ZERO, kind: 'create', action: 'push' });
    expect(ref.new).toMatch(/^[0-9a-f]{40}$/);
    expect(ref.grantId).toMatch(/^grt_/);
    const denied = events.filter((e) => e.outcome === 'deny');
    expect(denied.length).toBeGreaterThan(5);
    expect(denied.some((e) => e.reason === 'no active grant for push on git:payments:MAIN')).toBe(true);
    expect((await a.cli(['audit', 'verify', '--local'])).code).toBe(0);
  });
});

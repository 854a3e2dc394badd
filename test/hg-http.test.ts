// Plain hg against Ajar's Mercurial gateway: real hg client, Mercurial's own
// hgweb behind it, Ajar's pretxnclose hook deciding every change.
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { rawHttp } from './support/raw-http.js';
import { policyRules } from './support/git.js';
import { hg, hgCommit, hgConfig, hgReposOf, hgUrl, makeHgRepo, runHg, serverLog, tempDir } from './support/hg.js';

let a: Ajar;
let repo: { dir: string; first: string };

const config = hgConfig((doc) => {
  const rules = policyRules(doc);
  for (const r of rules) if (r.name === 'billing-stable') r.request_on_deny = true;
  // Reading the ledger needs a lead's approval; a refused clone files the request.
  doc.setIn(['resources'], [...(doc.getIn(['resources']) as any).toJSON(), { id: 'hg:ledger' }]);
  rules.push({ name: 'ledger-read', who: { groups: ['eng'] }, resources: ['hg:ledger'], actions: ['read'], max_duration: '8h', approval: { groups: ['leads'] }, request_on_deny: true });
  doc.setIn(['policy', 'rules'], rules);
  // A test moves the clock past a grant's end and back; a sweep in between would end the grant for good.
  doc.set('workers', { sweep_interval: '1d' });
});

async function request(resource: string, action: string, extra: string[] = [], as = 'alice') {
  return a.json(['request', '--resource', resource, '--action', action, '--duration', '1h', '--reason', 'test', ...extra], { as });
}

async function clone(user = 'alice'): Promise<string> {
  const work = tempDir('hgclone-');
  await hg(['clone', '-q', await hgUrl(a, 'billing', user), work]);
  return work;
}

const push = async (work: string, user = 'alice', extra: string[] = []) => runHg(['push', ...extra, await hgUrl(a, 'billing', user)], { cwd: work });

/** A raw request to the gateway, path and headers exactly as given. */
const raw = (method: string, path: string, headers: Record<string, string>, body?: Buffer) => rawHttp(a.url, method, path, headers, body);

/** The arguments of a forced unbundle (`heads=force`, hex-encoded as hg sends it). */
const FORCE = `heads=${Buffer.from('force').toString('hex')}`;

/** A changegroup bundle of `node` (and its ancestors the server lacks). */
async function bundleOf(work: string, node: string): Promise<Buffer> {
  const file = join(tempDir('bundle-'), 'b.hg');
  await hg(['bundle', '-q', '-r', node, '--base', repo.first, '--type', 'none-v2', file], { cwd: work });
  return readFileSync(file);
}

/** A POST straight to hgweb's Unix socket, bypassing the gateway. */
function unixRequest(socketPath: string, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((ok, fail) => {
    const req = httpRequest({ socketPath, method: 'POST', path, headers: { ...headers, host: 'ajar-hgweb', 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

const basic = async (user: string) => `Basic ${Buffer.from(`${user}:${await a.token(user)}`).toString('base64')}`;

beforeAll(async () => {
  a = await startAjar({ config });
  repo = await makeHgRepo(a, 'billing');
  // alice reads billing and keeps drafts on default; other grants come per test.
  await request('hg:billing', 'read');
  await request('hg:billing:default', 'push');
});
afterAll(() => a?.stop());

describe('pull and clone', () => {
  it('a clone needs a read grant: refused with what to ask, then works; each pull is audited', async () => {
    const r = await runHg(['clone', await hgUrl(a, 'billing', 'erin'), tempDir('hgclone-')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('erin has no active grant to read hg:billing');
    expect(r.stderr).toContain('ajar request --resource hg:billing --action read');
    await request('hg:billing', 'read', [], 'erin');
    const work = await clone('erin');
    expect(await hg(['log', '-r', 'tip', '-T', '{node}'], { cwd: work })).toBe(repo.first);
    const pulls = (await a.json(['audit', '--local', '--type', 'hg.pull', '--user', 'erin'])) as any[];
    expect(pulls.map((e) => e.outcome)).toEqual(['deny', 'allow']);
    expect(pulls[1]).toMatchObject({ resource: 'hg:billing', action: 'read', details: { transport: 'http' } });
  });

  it('a refused clone files the request where the rule says so, whatever command hg sent first; once', async () => {
    await makeHgRepo(a, 'ledger');
    const first = await runHg(['clone', await hgUrl(a, 'ledger', 'alice'), tempDir('hgclone-')]);
    expect(first.code).not.toBe(0);
    const id = /filed request (req_\w+) for read on hg:ledger; it waits for approval/.exec(first.stderr)?.[1];
    expect(id, first.stderr).toBeDefined();
    // hg stopped at its first request, capabilities: that refusal filed it.
    const denied = ((await a.json(['audit', '--local', '--type', 'hg.pull', '--user', 'alice'])) as any[]).filter((e) => e.resource === 'hg:ledger');
    expect(denied.map((e) => [e.outcome, e.details.commands])).toEqual([['deny', ['capabilities']]]);
    const again = await runHg(['clone', await hgUrl(a, 'ledger', 'alice'), tempDir('hgclone-')]);
    expect(again.stderr).toContain(`your request ${id} for read on hg:ledger is waiting for approval`);
    const mine = (await a.json(['requests', '--state', 'pending'], { as: 'alice' })) as any[];
    expect(mine.filter((r) => r.resources.includes('hg:ledger')).map((r) => r.id)).toEqual([id]);
    await a.json(['approve', id!, '--reason', 'ok'], { as: 'bob' });
    await hg(['clone', '-q', await hgUrl(a, 'ledger', 'alice'), tempDir('hgclone-')]);
  });

  it('only the wire protocol on the repository URL: /api/, web pages and odd paths are refused', async () => {
    const auth = { authorization: await basic('alice') };
    for (const path of ['/hg/billing/api/', '/hg/billing/api/http-v2/ro/heads', '/hg/billing/json-log', '/hg/billing/raw-file/tip/README', '/hg/billing/']) {
      expect((await raw('GET', path, auth)).status, path).toBe(404);
    }
    expect((await raw('GET', '/hg/billing', auth)).status).toBe(400);
    expect((await raw('GET', '/hg/billing?cmd=capabilities', auth)).status).toBe(200);
  });

  it('a name that reaches outside the root or aliases a repository gets the answer of a missing one', async () => {
    await makeHgRepo(a, 'outside', tempDir('elsewhere-'));
    const { symlinkSync } = await import('node:fs');
    symlinkSync(join(tempDir('elsewhere-'), 'x'), join(hgReposOf(a), 'link'));
    const auth = { authorization: await basic('alice') };
    const ask = async (name: string) => {
      const r = await raw('GET', `/hg/${name}?cmd=capabilities`, auth);
      return { status: r.status, text: r.text.replaceAll(`hg:${name}`, 'hg:NAME') };
    };
    const missing = await ask('nothere');
    expect(missing.status).toBe(403);
    for (const name of ['..', '../billing', '%2e%2e/billing', 'Billing', '-billing', '.billing', '/billing', 'billing/.hg', 'link', 'billing//x']) {
      expect(await ask(name), name).toEqual(missing);
    }
  });
});

describe('the wire protocol is read as Mercurial reads it', () => {
  it('a write hidden in a batch, in a GET, or behind a moved cmd is refused before hgweb sees it', async () => {
    const alice = { authorization: await basic('alice') };
    const dave = { authorization: await basic('dave') };
    await request('hg:billing', 'read', [], 'dave');
    const pushkey = 'pushkey namespace=bookmarks,key=evil,old=,new=' + repo.first;
    // pushkey or unbundle by GET, directly or inside a batch (query, headers or body arguments)
    expect((await raw('GET', '/hg/billing?cmd=unbundle', alice)).status).toBe(405);
    expect((await raw('GET', `/hg/billing?cmd=pushkey&namespace=bookmarks&key=evil&old=&new=${repo.first}`, alice)).status).toBe(405);
    expect((await raw('GET', `/hg/billing?cmd=batch&cmds=${encodeURIComponent(`heads ;${pushkey}`)}`, alice)).status).toBe(405);
    expect((await raw('GET', '/hg/billing?cmd=batch', { ...alice, 'x-hgarg-1': `cmds=${encodeURIComponent(`heads ;${pushkey}`)}` })).status).toBe(405);
    // A reader (dave has read only) cannot POST a batch hiding a pushkey.
    const hidden = Buffer.from(`cmds=${encodeURIComponent(`heads ;${pushkey}`)}`);
    const viaBody = await raw('POST', '/hg/billing?cmd=batch', { ...dave, 'x-hgargs-post': String(hidden.length), 'content-type': 'application/mercurial-0.1' }, hidden);
    expect(viaBody.status).toBe(403);
    expect(viaBody.reason).toContain('dave has no active grant to push to hg:billing');
    const unbundle = Buffer.from(`cmds=${encodeURIComponent(`heads ;unbundle heads=${Buffer.from('force').toString('hex')}`)}`);
    const hiddenUnbundle = await raw('POST', '/hg/billing?cmd=batch', { ...dave, 'x-hgargs-post': String(unbundle.length), 'content-type': 'application/mercurial-0.1' }, unbundle);
    expect(hiddenUnbundle.status).toBe(403);
    expect(hiddenUnbundle.reason).toContain('dave has no active grant to push to hg:billing');
    // The headers' arguments replace the query's, as in Mercurial: a harmless query does not hide them.
    const moved = await raw('POST', `/hg/billing?cmd=batch&cmds=heads+`, { ...dave, 'x-hgarg-1': `cmds=${encodeURIComponent(pushkey)}`, 'content-type': 'application/mercurial-0.1' }, Buffer.alloc(0));
    expect(moved.status).toBe(403);
    // Percent-escapes are decoded as Mercurial decodes them (+ is a space, %75 is u).
    const escaped = await raw('POST', `/hg/billing?cmd=batch&cmds=heads+%3Bp%75shkey+namespace%3Dbookmarks`, { ...dave, 'content-type': 'application/mercurial-0.1' }, Buffer.alloc(0));
    expect(escaped.status).toBe(403);
    // Spellings Mercurial reads differently from Ajar are refused: `X_HgArg_1` is X-HgArg-1 to
    // hgweb; Python's int() reads an X-HgArgs-Post of "1_20" as 120 and " 20" as 20.
    const underscore = await raw('POST', '/hg/billing?cmd=batch&cmds=heads+', { ...dave, X_HgArg_1: `cmds=${encodeURIComponent(pushkey)}`, 'content-type': 'application/mercurial-0.1' }, Buffer.alloc(0));
    expect(underscore.status).toBe(400);
    expect(underscore.reason).toContain('header names with "_" are refused');
    for (const length of ['1_20', '+20', '0x14', '20 20', '-1']) {
      const r = await raw('POST', '/hg/billing?cmd=batch&cmds=heads+', { ...dave, 'x-hgargs-post': length, 'content-type': 'application/mercurial-0.1' }, hidden);
      expect(r.status, length).toBe(400);
      expect(r.reason, length).toContain('X-HgArgs-Post is not a length Ajar accepts');
    }
    // cmd given twice, or hidden in header or body arguments, is refused outright.
    expect((await raw('GET', '/hg/billing?cmd=heads&cmd=unbundle', alice)).status).toBe(400);
    expect((await raw('GET', '/hg/billing?cmd=heads', { ...alice, 'x-hgarg-1': 'cmd=unbundle' })).status).toBe(400);
    // Nothing moved.
    expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).not.toContain('evil');
    // A plain read batch works.
    expect((await raw('GET', `/hg/billing?cmd=batch&cmds=${encodeURIComponent('heads ;known nodes=')}`, dave)).status).toBe(200);
  });

  it('identity headers from the client change nothing', async () => {
    const r = await raw('GET', '/hg/billing?cmd=capabilities', { 'remote-user': 'alice', 'x-forwarded-user': 'alice', 'x-ajar-user': 'alice', 'x-ajar-write': '1' });
    expect(r.status).toBe(401);
    // erin may read but not push; claiming alice's identity and a write to hgweb gives her nothing.
    await request('hg:billing', 'read', [], 'erin');
    const spoofed = await raw('POST', '/hg/billing?cmd=unbundle', { authorization: await basic('erin'), 'x-ajar-user': 'alice', 'x-ajar-write': '1', 'content-type': 'application/mercurial-0.1' }, Buffer.alloc(0));
    expect(spoofed.status).toBe(403);
    expect(spoofed.reason).toContain('erin has no active grant to push to hg:billing');
  });

  it("a header spelled with `_` cannot pose as Ajar's, not even from a user who may push to another branch", async () => {
    // Where the attack points the hook: a fake Ajar that allows everything.
    let asked = 0;
    const fake = createHttpServer((_req, res) => {
      asked++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ allow: true, lines: ['fake ajar says yes'] }));
    });
    await new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok));
    const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/x?`;
    try {
      // alice may push to default only; she sends a changeset on stable.
      const work = await clone();
      await hg(['branch', '-q', 'stable'], { cwd: work });
      const smuggled = await hgCommit(work, 'smuggled onto stable');
      const body = await bundleOf(work, smuggled);
      const unbundle = async (extra: Record<string, string>) =>
        raw('POST', '/hg/billing?cmd=unbundle', { authorization: await basic('alice'), 'content-type': 'application/mercurial-0.1', 'x-hgarg-1': FORCE, ...extra }, body);
      const spoof: Record<string, string> = {
        X_Ajar_Hook_Url: fakeUrl,
        X_Ajar_Push_Session: 'ajps_forged',
        X_Ajar_User: 'alice',
        X_Ajar_Write: '1',
        X_Ajar_Repo_Dir: repo.dir,
        'X-Ajar_Hg_Repo': 'billing',
        X_HgArg_1: FORCE,
      };
      for (const [name, value] of Object.entries(spoof)) {
        const r = await unbundle({ [name]: value });
        expect(r.status, name).toBe(400);
        expect(r.reason, name).toContain('header names with "_" are refused');
      }
      // The same push without the extra headers reaches the hook, which refuses stable.
      const plain = await unbundle({});
      expect(plain.status).toBe(200);
      expect(plain.text).toContain('pretxnclose.ajar hook failed');
      expect(asked).toBe(0);
      expect((await serverLog(repo.dir)).has(smuggled)).toBe(false);

      // hgweb itself, asked on its socket as if the gateway had let them through, trusts none of it.
      const direct = async (headers: Record<string, string>) => unixRequest(join(a.dataDir, 'hgweb.sock'), '/?cmd=unbundle', { 'content-type': 'application/mercurial-0.1', 'x-hgarg-1': FORCE, ...headers }, body);
      const underscores = await direct({ ...spoof, 'X-Ajar-Context': 'e30.0000' });
      expect(underscores.status).toBe(400);
      const dashed = Object.fromEntries(Object.entries(spoof).map(([k, v]) => [k.replaceAll('_', '-'), v]));
      const forged = await direct({ ...dashed, 'X-Ajar-Context': `${Buffer.from(JSON.stringify({ user: 'alice', write: '1', repoDir: repo.dir, repo: 'billing', session: 'ajps_forged', hookUrl: fakeUrl })).toString('base64url')}.${'0'.repeat(64)}` });
      expect(forged.status).toBe(400);
      expect(forged.text).toContain('not from Ajar');
      expect(asked).toBe(0);
      expect((await serverLog(repo.dir)).has(smuggled)).toBe(false);
      // No push of that changeset is on record either, only the hook's refusal.
      const pushes = (await a.json(['audit', '--local', '--type', 'hg.push', '--user', 'alice'])) as any[];
      expect(pushes.filter((e) => e.outcome === 'allow' && JSON.stringify(e.details).includes(smuggled))).toEqual([]);
    } finally {
      fake.close();
    }
  });
});

describe('push', () => {
  it('new changesets need push on their branch; a new branch without a grant is refused whole, per change', async () => {
    const work = await clone();
    const c1 = await hgCommit(work, 'on default');
    const ok = await push(work);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).toContain('ajar: push to billing allowed for alice: branch default (push, grt_');
    expect((await serverLog(repo.dir)).get(c1)).toBe('default draft');

    await hg(['branch', '-q', 'stable'], { cwd: work });
    const s1 = await hgCommit(work, 'on stable');
    await hg(['update', '-q', 'default'], { cwd: work });
    const c2 = await hgCommit(work, 'default again');
    const refused = await push(work, 'alice', ['--new-branch']);
    expect(refused.code).not.toBe(0);
    const out = refused.stdout + refused.stderr;
    expect(out).toContain('push to billing refused for alice: 1 of 2 change(s) not covered by an active grant');
    expect(out).toContain('branch stable: 1 new changeset(s) needs push; no active grant for push on hg:billing:stable');
    expect(out).toMatch(/branch default: 1 new changeset\(s\) needs push; allowed by grt_/);
    // The rule says so: the refusal filed the request for the lead (or names the one an earlier refusal filed).
    expect(out).toMatch(/(filed request|your request) req_\w+ for push on hg:billing:stable/);
    const log = await serverLog(repo.dir);
    expect(log.has(s1)).toBe(false);
    expect(log.has(c2)).toBe(false);
  });

  it('a merge that brings in a changeset from a branch without a grant is refused', async () => {
    const work = await clone();
    await hg(['branch', '-q', 'stable'], { cwd: work });
    const s = await hgCommit(work, 'stable work', 'stable-file');
    await hg(['update', '-q', 'default'], { cwd: work });
    await hg(['merge', '-q', 'stable'], { cwd: work });
    await hg(['commit', '-m', 'merge stable into default'], { cwd: work });
    const r = await runHg(['push', '-r', 'default', '--new-branch', await hgUrl(a, 'billing', 'alice')], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('no active grant for push on hg:billing:stable');
    expect((await serverLog(repo.dir)).has(s)).toBe(false);
  });

  it('closing a branch needs close-branch', async () => {
    const work = await clone();
    await hg(['branch', '-q', 'topic-x'], { cwd: work });
    await hgCommit(work, 'topic work');
    await request('hg:billing:topic-*', 'push');
    expect((await push(work, 'alice', ['--new-branch'])).code).toBe(0);
    await hg(['commit', '--close-branch', '-m', 'done with topic-x'], { cwd: work });
    const r = await push(work);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('branch topic-x: close the branch needs close-branch; no active grant for close-branch on hg:billing:topic-x');
    await request('hg:billing:topic-*', 'close-branch');
    expect((await push(work)).code).toBe(0);
  });

  it('bookmarks: create and move need push, delete needs delete, names outside the grant are refused — with or without pushkey compatibility', async () => {
    await request('hg:billing:@feature-*', 'push');
    for (const compat of ['True', 'False']) {
      writeFileSync(join(repo.dir, '.hg', 'hgrc'), `[phases]\npublish = False\n[experimental]\nevolution = all\n[server]\nbookmarks-pushkey-compat = ${compat}\n`);
      const work = await clone();
      const name = `feature-${compat}`;
      await hgCommit(work);
      await hg(['bookmark', name], { cwd: work });
      expect((await push(work, 'alice', ['-B', name])).code, compat).toBe(0);
      expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).toContain(name);
      await hgCommit(work);
      expect((await push(work, 'alice', ['-B', name])).code, `move ${compat}`).toBe(0);
      await hg(['bookmark', 'release'], { cwd: work });
      const r = await push(work, 'alice', ['-B', 'release']);
      expect(r.code, compat).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('bookmark release: create the bookmark needs push; no active grant for push on hg:billing:@release');
      expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).not.toContain('release');
      // Moving a bookmark the grant does not cover (put there on the server itself) is refused too.
      const held = `held-${compat}`;
      await hg(['bookmark', '-R', repo.dir, '-r', repo.first, held]);
      const mover = await clone();
      await hgCommit(mover);
      await hg(['bookmark', '-f', held], { cwd: mover });
      const move = await push(mover, 'alice', ['-B', held]);
      expect(move.code, compat).not.toBe(0);
      expect(move.stdout + move.stderr, compat).toContain(`bookmark ${held}: move the bookmark needs push; no active grant for push on hg:billing:@${held}`);
      expect(await hg(['log', '-R', repo.dir, '-r', held, '-T', '{node}'])).toBe(repo.first);
      await hg(['bookmark', '-d', name], { cwd: work });
      const del = await push(work, 'alice', ['-B', name]);
      expect(del.stdout + del.stderr, compat).toContain(`bookmark ${name}: delete the bookmark needs delete`);
    }
  });

  it('older clients (bundle1) and a raw pushkey are told a refused bookmark or phase and how to ask, not an HTTP 500', async () => {
    const legacy = ['--config', 'devel.legacy.exchange=bundle1'];
    const work = await clone();
    await hg(['bookmark', '-r', repo.first, 'legacy-release'], { cwd: work });
    const r = await push(work, 'alice', [...legacy, '-r', repo.first, '-B', 'legacy-release']);
    const out = r.stdout + r.stderr;
    expect(out).not.toContain('HTTP Error 500');
    expect(out).toContain('remote: ajar: push to billing refused for alice: 1 of 1 change(s) not covered by an active grant');
    expect(out).toContain('bookmark legacy-release: create the bookmark needs push; no active grant for push on hg:billing:@legacy-release');
    expect(out).toContain('ajar request --resource hg:billing:@legacy-release --action push');
    expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).not.toContain('legacy-release');

    await request('hg:billing:@feature-*', 'push');
    await hg(['bookmark', '-r', repo.first, 'feature-legacy'], { cwd: work });
    const ok = await push(work, 'alice', [...legacy, '-r', repo.first, '-B', 'feature-legacy']);
    expect(ok.stdout + ok.stderr).toContain('remote: ajar: push to billing allowed for alice: bookmark feature-legacy (push, grt_');
    expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).toContain('feature-legacy');

    // Publishing by a phase pushkey: alice has no publish grant.
    const d = await hgCommit(work, 'legacy draft');
    expect((await push(work, 'alice', [...legacy, '-r', d])).code).toBe(0);
    await hg(['phase', '--public', '-r', d], { cwd: work });
    const pub = await push(work, 'alice', [...legacy, '-r', d]);
    expect(pub.stdout + pub.stderr).toMatch(/branch default: publish \d+ draft changeset\(s\) needs publish; no active grant for publish on hg:billing:default/);
    expect((await serverLog(repo.dir)).get(d)).toBe('default draft');

    // The raw command, as hg sends it.
    const rawPushkey = await raw('POST', '/hg/billing?cmd=pushkey', { authorization: await basic('alice'), 'content-type': 'application/mercurial-0.1', 'x-hgarg-1': `namespace=bookmarks&key=raw-release&old=&new=${repo.first}` }, Buffer.alloc(0));
    expect(rawPushkey.status).toBe(200);
    expect(rawPushkey.text.startsWith('0\n')).toBe(true);
    expect(rawPushkey.text).toContain('ajar:   ajar request --resource hg:billing:@raw-release --action push');
    expect(await hg(['bookmarks', '-R', repo.dir, '-T', '{bookmark}\\n'])).not.toContain('raw-release');
    // Each refusal is on record, with what it would have changed.
    const denied = ((await a.json(['audit', '--local', '--type', 'hg.push', '--user', 'alice'])) as any[]).filter((e) => e.outcome === 'deny');
    for (const bookmark of ['legacy-release', 'raw-release']) {
      expect(denied.some((e) => e.details.changes.some((c: any) => c.bookmark === bookmark && c.op === 'create')), bookmark).toBe(true);
    }
  });

  it('publishing a draft needs publish', async () => {
    await request('hg:billing', 'read', [], 'erin');
    await request('hg:billing:default', 'push', [], 'erin');
    const work = await clone('erin');
    const c = await hgCommit(work, 'to publish');
    const r = await runHg(['push', '--publish', await hgUrl(a, 'billing', 'erin')], { cwd: work });
    expect(r.code).not.toBe(0);
    // --publish makes public the pushed changeset and its draft ancestors.
    expect(r.stdout + r.stderr).toMatch(/branch default: publish \d+ draft changeset\(s\) needs publish; no active grant for publish on hg:billing:default/);
    expect((await serverLog(repo.dir)).has(c)).toBe(false);
    const plain = await runHg(['push', await hgUrl(a, 'billing', 'erin')], { cwd: work });
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect((await serverLog(repo.dir)).get(c)).toBe('default draft');
    await hg(['phase', '--public', '-r', c], { cwd: work });
    const again = await runHg(['push', await hgUrl(a, 'billing', 'erin')], { cwd: work });
    expect(again.stdout + again.stderr).toContain('needs publish');
    expect((await serverLog(repo.dir)).get(c)).toBe('default draft');
    await request('hg:billing:default', 'publish', [], 'erin');
    // Only the phase moves now (hg push says "no changes found" and exits 1).
    const published = await runHg(['push', await hgUrl(a, 'billing', 'erin')], { cwd: work });
    expect(published.stdout + published.stderr).not.toContain('refused');
    expect((await serverLog(repo.dir)).get(c)).toBe('default public');
  });

  it('rewriting a draft needs rewrite; a marker that obsoletes a public changeset is always refused', async () => {
    await request('hg:billing', 'read', [], 'erin');
    await request('hg:billing:default', 'push', [], 'erin');
    const erin = await clone('erin');
    const d = await hgCommit(erin, 'draft to amend');
    expect((await push(erin, 'erin')).code).toBe(0);
    writeFileSync(join(erin, 'change'), 'amended\n');
    await hg(['commit', '--amend', '-m', 'amended'], { cwd: erin });
    const r = await push(erin, 'erin', ['--force']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(`changeset ${d.slice(0, 12)}: obsolete a changeset on default needs rewrite`);
    await request('hg:billing:default', 'rewrite', [], 'erin');
    expect((await push(erin, 'erin', ['--force'])).code).toBe(0);
    expect((await serverLog(repo.dir, 'obsolete()')).has(d)).toBe(true);
    // A marker pruning the public first changeset: refused even with rewrite.
    await hg(['debugobsolete', repo.first], { cwd: erin });
    const pub = await push(erin, 'erin', ['--force']);
    expect(pub.stdout + pub.stderr).toContain(`obsolescence marker for public changeset ${repo.first.slice(0, 12)}: public history cannot be rewritten`);
    expect((await serverLog(repo.dir, 'obsolete()')).has(repo.first)).toBe(false);
  });

  it('a grant for one push is used by the first push that lands, not by one another hook aborts after Ajar allowed it', async () => {
    await request('hg:billing', 'read', [], 'erin');
    const once = await request('hg:billing:topic-*', 'push', ['--uses', '1'], 'erin');
    const work = await clone('erin');
    await hg(['branch', '-q', 'topic-once'], { cwd: work });
    const c = await hgCommit(work);
    // A hook of the repository's own, run after Ajar's, refuses the transaction.
    const hgrc = join(repo.dir, '.hg', 'hgrc');
    const before = readFileSync(hgrc, 'utf8');
    writeFileSync(hgrc, `${before}[hooks]\npretxnclose.zz-veto = false\npriority.pretxnclose.zz-veto = -10\n`);
    // hgweb keeps a repository (and its hgrc) until its store changes: make it look changed.
    const changelog = join(repo.dir, '.hg', 'store', '00changelog.i');
    utimesSync(changelog, new Date(), new Date(Date.now() + 5000));
    const vetoed = await push(work, 'erin', ['--new-branch']).finally(() => {
      writeFileSync(hgrc, before);
      utimesSync(changelog, new Date(), new Date(Date.now() + 10_000));
    });
    expect(vetoed.code).not.toBe(0);
    expect(vetoed.stdout + vetoed.stderr).toContain(`grant ${once.grantId}: this push takes its last use; the grant ends when the push lands`);
    expect(vetoed.stdout + vetoed.stderr).toContain('pretxnclose.zz-veto hook exited with status 1');
    expect((await serverLog(repo.dir)).has(c)).toBe(false);
    // The use came back.
    expect(await a.json(['grants', once.grantId])).toMatchObject({ state: 'active', uses: 0 });

    const first = await push(work, 'erin', ['--new-branch']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout + first.stderr).toContain(`grant ${once.grantId}: this push takes its last use; the grant ends when the push lands`);
    expect((await serverLog(repo.dir)).get(c)).toBe('topic-once draft');
    expect(await a.json(['grants', once.grantId])).toMatchObject({ state: 'consumed', uses: 1 });
    await hgCommit(work);
    const second = await push(work, 'erin');
    expect(second.code).not.toBe(0);
    // Refused by the gateway (no grant to push at all) or by the hook (not to topic-once), as erin's other grants go.
    expect(second.stdout + second.stderr).toMatch(/erin has no active grant to push to hg:billing|no active grant for push on hg:billing:topic-once/);
  });

  it('a grant that ends during the push allows nothing', async () => {
    await request('hg:billing', 'read', [], 'erin');
    const g = await request('hg:billing:topic-*', 'push', [], 'erin');
    expect(g.state).toBe('approved');
    const work = await clone('erin');
    await hg(['branch', '-q', 'topic-late'], { cwd: work });
    const c = await hgCommit(work);
    const body = await bundleOf(work, c);
    const start = a.now();
    try {
      const before = a.serverLog().split('hg push started').length;
      const u = new URL(a.url);
      const authorization = await basic('erin');
      const res = await new Promise<string>((ok, fail) => {
        const headers = { authorization, 'content-type': 'application/mercurial-0.1', 'content-length': String(body.length), 'x-hgarg-1': FORCE };
        const req = httpRequest({ host: u.hostname, port: u.port, method: 'POST', path: '/hg/billing?cmd=unbundle', headers }, (r) => {
          let t = '';
          r.on('data', (d) => (t += d));
          r.on('end', () => ok(t));
        });
        req.on('error', fail);
        // Half the bundle, then — once the gateway let the push in — the grant ends, then the rest.
        req.write(body.subarray(0, Math.floor(body.length / 2)));
        void (async () => {
          while (a.serverLog().split('hg push started').length === before) await new Promise((r) => setTimeout(r, 20));
          a.advance(3601);
          req.end(body.subarray(Math.floor(body.length / 2)));
        })();
      });
      // The reply is a bundle2 stream; what the hook said is in it, as Mercurial sends it.
      expect(res).toContain('pretxnclose.ajar hook failed');
      expect((await serverLog(repo.dir)).has(c)).toBe(false);
      const denied = (await a.json(['audit', '--local', '--type', 'hg.push', '--user', 'erin'])) as any[];
      expect(denied.at(-1)).toMatchObject({ outcome: 'deny', reason: 'no active grant for push on hg:billing:topic-late' });
    } finally {
      a.setClock(start);
    }
  });

  it('every push is audited with the pusher, changesets, branches and bookmarks, and the grant of each', async () => {
    const events = (await a.json(['audit', '--local', '--type', 'hg.push'])) as any[];
    const allowed = events.find((e) => e.outcome === 'allow' && e.details.changes.some((c: any) => c.type === 'bookmark'));
    expect(allowed).toMatchObject({ subject: 'alice', resource: 'hg:billing', details: { transport: 'http' } });
    const bm = allowed.details.changes.find((c: any) => c.type === 'bookmark');
    expect(bm).toMatchObject({ bookmark: 'feature-True', op: 'create', action: 'push' });
    expect(bm.grantId).toMatch(/^grt_/);
    const cs = events.find((e) => e.outcome === 'allow').details.changes.find((c: any) => c.type === 'changesets');
    expect(cs.nodes[0]).toMatch(/^[0-9a-f]{40}$/);
    expect(events.some((e) => e.outcome === 'deny' && e.reason === 'no active grant for push on hg:billing:stable')).toBe(true);
    expect((await a.cli(['audit', 'verify', '--local'])).code).toBe(0);
  });
});

describe('the hgweb worker', () => {
  /** The processes whose command line names this hgweb socket. */
  const workersOf = (dataDir: string) => {
    const socket = join(dataDir, 'hgweb.sock');
    return readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(socket);
        } catch {
          return false; // gone meanwhile
        }
      });
  };
  const gone = async (dataDir: string) => {
    for (let i = 0; i < 100 && workersOf(dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    return workersOf(dataDir);
  };

  it('without a Python that has Mercurial Ajar still serves the rest, and /hg/ says what is missing', async () => {
    const b = await startAjar({ config: hgConfig((doc) => doc.set('hg', { root: './hgrepos', hook_accounts: ['hg-hooks'], python: '/nonexistent/python3' })) });
    try {
      const r = await rawHttp(b.url, 'GET', '/hg/billing?cmd=capabilities', { authorization: `Basic ${Buffer.from(`alice:${await b.token('alice')}`).toString('base64')}` });
      expect(r.status).toBe(503);
      expect(r.reason).toContain('no Python with Mercurial found (tried /nonexistent/python3)');
      expect(r.reason).toContain('set hg.python');
      expect(workersOf(b.dataDir)).toEqual([]);
      expect((await b.api('GET', '/healthz')).status).toBe(200);
    } finally {
      await b.stop();
    }
  });

  it('dies with Ajar, even when Ajar is killed outright, and does not outlive a start that fails', async () => {
    const b = await startAjar({ config });
    try {
      expect(workersOf(b.dataDir)).toHaveLength(1);
      b.signal('SIGKILL');
      expect(await gone(b.dataDir)).toEqual([]);
      // A second server on a port in use: it starts its worker, then cannot listen.
      const dataDir = tempDir('second-');
      const second = await b.cli(['serve', '--port', new URL(a.url).port, '--host', '127.0.0.1', '--data-dir', dataDir]);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain('EADDRINUSE');
      expect(await gone(dataDir)).toEqual([]);
    } finally {
      await b.stop();
    }
  });

  it('does not read a Mercurial config from a shared directory (a /tmp/.hgrc could load an extension)', async () => {
    // TMPDIR stands for /tmp: anyone on the host may write there.
    const shared = tempDir('shared-tmp-');
    const marker = join(shared, 'extension-ran');
    writeFileSync(join(shared, 'evil.py'), `open(${JSON.stringify(marker)}, 'w').write('ran')\n`);
    writeFileSync(join(shared, '.hgrc'), `[extensions]\nevil = ${join(shared, 'evil.py')}\n`);
    const b = await startAjar({ config, serverEnv: { TMPDIR: shared, HOME: shared } });
    try {
      await makeHgRepo(b, 'billing');
      await b.json(['request', '--resource', 'hg:billing', '--action', 'read', '--duration', '1h', '--reason', 'x'], { as: 'alice' });
      const work = tempDir('hgclone-');
      await hg(['clone', '-q', await hgUrl(b, 'billing', 'alice'), work]);
      const { existsSync } = await import('node:fs');
      expect(existsSync(marker)).toBe(false);
    } finally {
      await b.stop();
    }
  });
});

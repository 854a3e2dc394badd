// Benchmark: Mercurial through Ajar's gateway against `hg serve` on the same
// repository, in the same run.
//
// A generated repository (BENCH_HG_CHANGESETS changesets, default 3,000, each
// changing one ~10 KB incompressible file: ~31 MB of store) is served by:
//   - gateway: a real `ajar serve` on its embedded database, Mercurial's hgweb
//     behind it (the warm worker), reached as alice with an API token over HTTP
//     Basic, with auto-approved grants; pushes run Ajar's pretxnclose hook,
//     which asks the server to decide;
//   - hg-serve: `hg serve -R <repository>`, one server per repository (the
//     push targets are made afresh before each round, untimed, and their
//     servers restarted), pushes allowed, no hooks;
//   - hgwebdir: `hg serve --web-conf` over a root like the gateway's (one
//     hgweb built per request), pushes allowed, no hooks.
// Cases (every server, order rotating each round; one warm-up round, then
// ROUNDS measured rounds):
//   - clone: `hg clone -U` into /dev/shm;
//   - push: 100 new changesets (~1 MB) to a copy of the repository;
//   - push-full: the whole repository into an empty one.
// The repository copies are made with `hg clone -U` (hard links), the same way
// for every server, and every server is asked once (`hg identify`, untimed) about
// each repository of a round before it is timed.
//
// Goal: clone and pushes through the gateway <= 1.10x `hg serve -R`: the median
// over the rounds of the ratio within a round (servers take turns within a
// round, so a busy moment of the machine weighs on both sides of a ratio).
// The ratio of the medians, and the ratios over hgwebdir, are reported too.
//
// Run: npm run bench   (or node bench/hg.bench.js on an existing build;
//      results in bench/results/hg-latest.json)
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const CHANGESETS = Number(process.env.BENCH_HG_CHANGESETS ?? 3000);
const PUSH_CHANGESETS = 100;
const ROUNDS = Number(process.env.BENCH_HG_ROUNDS ?? 7);
const GOAL = 1.1;
const SERVERS = ['gateway', 'hg-serve', 'hgwebdir'];
const CASES = ['clone', 'push', 'push-full'];

const shm = existsSync('/dev/shm') && statSync('/dev/shm').isDirectory() ? '/dev/shm' : tmpdir();
const work = mkdtempSync(join(shm, 'ajar-hg-bench-'));
const children = new Set();
const env = { PATH: process.env.PATH, HOME: join(work, 'home'), LANG: 'C.UTF-8', HGPLAIN: '1', HGUSER: 'bench <b@x>', HGRCPATH: '' };
mkdirSync(env.HOME);

function run(cmd, args, opts = {}) {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { env: opts.env ?? env, cwd: opts.cwd ?? work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => {
      children.delete(c);
      if (code === 0 || opts.okCodes?.includes(code)) ok({ ms: performance.now() - t0, out, err });
      else fail(new Error(`${cmd} ${args.join(' ').replace(/:\/\/([^:]+):[^@]+@/, '://$1:***@')} failed (${code}):\n${err}${out}`));
    });
  });
}

const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

/** Changesets made with Mercurial's own API in one process (fast), from a seeded PRNG. */
function generate(dir, n, seed) {
  const python = execFileSync('hg', ['debuginstall', '-T', '{pythonexe}'], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const script = `
import random, sys
from mercurial import context, hg, ui as uimod
u = uimod.ui.load()
repo = hg.repository(u, sys.argv[1].encode())
rnd = random.Random(int(sys.argv[3]))
parent = repo[b'tip'].node() if len(repo) else repo.nullid
with repo.wlock(), repo.lock(), repo.transaction(b'bench'):
    for i in range(int(sys.argv[2])):
        path = b'd%02d/f%03d' % (i % 50, i % 500)
        data = rnd.randbytes(10000)
        def getfile(repo, memctx, p, data=data):
            return context.memfilectx(repo, memctx, p, data)
        ctx = context.memctx(repo, (parent, None), b'change %d' % i, [path], getfile, user=b'bench <b@x>', date=(1700000000 + i, 0), branch=b'default')
        parent = repo.commitctx(ctx)
`;
  execFileSync(python, ['-c', script, dir, String(n), String(seed)], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

const NON_PUBLISHING = '[phases]\npublish = False\n';

/** A push target: a copy of the repository (push) or an empty repository (push-full), non-publishing as Ajar serves them. */
async function makeTarget(base, dir, kind) {
  rmSync(dir, { recursive: true, force: true });
  if (kind === 'push') await run('hg', ['clone', '-U', '-q', base, dir]);
  else await run('hg', ['init', dir]);
  writeFileSync(join(dir, '.hg', 'hgrc'), NON_PUBLISHING);
}

/** `hg serve` with these arguments, answering once before it is timed. */
async function startHgServe(args, probePath) {
  const port = await freePort();
  const c = spawn('hg', ['serve', ...args, '-a', '127.0.0.1', '-p', String(port), '--config', 'web.push_ssl=false', '--config', 'web.allow-push=*'], { env, stdio: 'ignore' });
  children.add(c);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await run('hg', ['identify', `${url}${probePath}`]);
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      if (c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      await once(c, 'exit');
      children.delete(c);
    },
  };
}

async function main() {
  const started = Date.now();
  // The repository, and a local clone carrying PUSH_CHANGESETS more for the push case.
  const base = join(work, 'base');
  await run('hg', ['init', base]);
  generate(base, CHANGESETS, 1);
  await run('hg', ['phase', '-R', base, '--public', '-r', 'all()']);
  const storeMB = Number(execFileSync('du', ['-sm', join(base, '.hg')], { encoding: 'utf8' }).split('\t')[0]);
  const pusher = join(work, 'pusher');
  await run('hg', ['clone', '-U', '-q', base, pusher]);
  generate(pusher, PUSH_CHANGESETS, 2);

  // The gateway and hgwebdir serve a root each: billing, and one target per round and push case.
  const rounds = ROUNDS + 1;
  const roots = { gateway: join(work, 'gw'), hgwebdir: join(work, 'dir') };
  for (const root of Object.values(roots)) {
    mkdirSync(root);
    await run('hg', ['clone', '-U', '-q', base, join(root, 'billing')]);
    writeFileSync(join(root, 'billing', '.hg', 'hgrc'), NON_PUBLISHING);
    for (let i = 0; i < rounds; i++) {
      await makeTarget(base, join(root, `push-${i}`), 'push');
      await makeTarget(base, join(root, `full-${i}`), 'push-full');
    }
  }
  // hg serve -R: one repository each; the targets are made afresh every round.
  const single = join(work, 'single');
  mkdirSync(single);
  await run('hg', ['clone', '-U', '-q', base, join(single, 'billing')]);
  writeFileSync(join(single, 'billing', '.hg', 'hgrc'), NON_PUBLISHING);

  // Ajar, serving the gateway's root.
  const cfg = parseYaml(readFileSync(join(ROOT, 'examples', 'ajar.yaml'), 'utf8'));
  cfg.hg = { root: roots.gateway };
  delete cfg.git;
  cfg.resources.push(...Array.from({ length: rounds }, (_, i) => [{ id: `hg:push-${i}` }, { id: `hg:full-${i}` }]).flat());
  cfg.policy.rules.push(
    { name: 'bench-push', who: { users: ['alice'] }, resources: ['hg:push-*:default'], actions: ['push'], max_duration: '8h', approval: 'auto' },
    // The whole repository is public: pushing it into a non-publishing one publishes it.
    { name: 'bench-full', who: { users: ['alice'] }, resources: ['hg:full-*:default'], actions: ['push', 'publish'], max_duration: '8h', approval: 'auto' },
    { name: 'bench-read', who: { users: ['alice'] }, resources: ['hg:push-*', 'hg:full-*'], actions: ['read'], max_duration: '8h', approval: 'auto' },
  );
  const cfgFile = join(work, 'ajar.yaml');
  writeFileSync(cfgFile, stringifyYaml(cfg));
  const dataDir = join(work, 'data');
  const ajarEnv = { ...process.env, DATABASE_URL: '', AJAR_URL: '', AJAR_TOKEN: '', AJAR_LOG_LEVEL: 'warn' };
  const ajar = spawn(process.execPath, [CLI, 'serve', '--config', cfgFile, '--data-dir', dataDir, '--port', '0'], { env: ajarEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(ajar);
  const url = await new Promise((ok, fail) => {
    let out = '';
    ajar.stdout.on('data', (d) => {
      out += d;
      const m = /ajar listening on (\S+)/.exec(out);
      if (m) ok(m[1]);
    });
    ajar.once('exit', (c) => fail(new Error(`ajar serve exited ${c}`)));
  });
  const token = execFileSync(process.execPath, [CLI, 'token', 'create', '--user', 'alice', '--data-dir', dataDir, '--local'], { env: ajarEnv, encoding: 'utf8' }).trim();
  const cli = (args) => execFileSync(process.execPath, [CLI, ...args], { env: { ...ajarEnv, AJAR_URL: url, AJAR_TOKEN: token }, encoding: 'utf8' });
  const ask = (resource, action) => cli(['request', '--resource', resource, '--action', action, '--duration', '8h', '--reason', 'bench']);
  ask('hg:billing', 'read');
  for (let i = 0; i < rounds; i++) {
    for (const name of [`push-${i}`, `full-${i}`]) ask(`hg:${name}`, 'read');
    ask(`hg:push-${i}:default`, 'push');
    ask(`hg:full-${i}:default`, 'push');
    ask(`hg:full-${i}:default`, 'publish');
  }
  const gw = new URL(url);

  // hgwebdir over its root; hg serve -R over billing (the push targets' servers come per round).
  const webConf = join(work, 'web.conf');
  writeFileSync(webConf, `[paths]\n/ = ${roots.hgwebdir}/*\n`);
  const hgwebdir = await startHgServe(['--web-conf', webConf], '/billing');
  const singleClone = await startHgServe(['-R', join(single, 'billing')], '/');

  const times = Object.fromEntries(CASES.map((c) => [c, Object.fromEntries(SERVERS.map((s) => [s, []]))]));
  for (let round = 0; round <= ROUNDS; round++) {
    // hg serve -R: fresh targets, their servers started and asked once (untimed).
    await makeTarget(base, join(single, 'push'), 'push');
    await makeTarget(base, join(single, 'full'), 'push-full');
    const singlePush = await startHgServe(['-R', join(single, 'push')], '/');
    const singleFull = await startHgServe(['-R', join(single, 'full')], '/');
    const urls = {
      gateway: { clone: `http://alice:${token}@${gw.host}/hg/billing`, push: `http://alice:${token}@${gw.host}/hg/push-${round}`, 'push-full': `http://alice:${token}@${gw.host}/hg/full-${round}` },
      'hg-serve': { clone: singleClone.url, push: singlePush.url, 'push-full': singleFull.url },
      hgwebdir: { clone: `${hgwebdir.url}/billing`, push: `${hgwebdir.url}/push-${round}`, 'push-full': `${hgwebdir.url}/full-${round}` },
    };
    // Each server has had this round's repositories open once, untimed (as hg serve -R just had).
    for (const who of ['gateway', 'hgwebdir']) for (const c of CASES) await run('hg', ['identify', urls[who][c]]);
    const order = SERVERS.map((_, i) => SERVERS[(i + round) % SERVERS.length]);
    for (const who of order) {
      const dest = join(work, `clone-${who}-${round}`);
      const c = await run('hg', ['clone', '-U', '-q', urls[who].clone, dest]);
      rmSync(dest, { recursive: true, force: true });
      const p = await run('hg', ['push', '-R', pusher, '-q', urls[who].push]);
      const f = await run('hg', ['push', '-R', base, '-q', urls[who]['push-full']]);
      if (round > 0) {
        times.clone[who].push(c.ms);
        times.push[who].push(p.ms);
        times['push-full'][who].push(f.ms);
      }
    }
    await singlePush.stop();
    await singleFull.stop();
  }
  await singleClone.stop();
  await hgwebdir.stop();

  const median = (xs) => {
    const a = [...xs].sort((x, y) => x - y);
    const m = a.length >> 1;
    return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
  };
  const r1 = (x) => Math.round(x * 10) / 10;
  const r3 = (x) => Math.round(x * 1000) / 1000;
  const cases = CASES.map((name) => {
    const t = times[name];
    const ms = Object.fromEntries(SERVERS.map((s) => [s, { median: r1(median(t[s])), min: r1(Math.min(...t[s])), all: t[s].map(r1) }]));
    const ratio = (over) => ({
      medianOfPaired: r3(median(t.gateway.map((g, i) => g / t[over][i]))),
      ofMedians: r3(median(t.gateway) / median(t[over])),
    });
    const overHgServe = ratio('hg-serve');
    return { case: name, ms, gatewayOver: { 'hg-serve': overHgServe, hgwebdir: ratio('hgwebdir') }, goalMet: overHgServe.medianOfPaired <= GOAL };
  });
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    hg: execFileSync('hg', ['--version', '-q'], { encoding: 'utf8', env }).trim(),
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)),
    repository: { changesets: CHANGESETS, storeMB, pushed: PUSH_CHANGESETS },
    rounds: ROUNDS,
    warmupRounds: 1,
    goal: { maxRatio: GOAL, measure: 'median over the rounds of (gateway / hg serve -R wall time in the same round)', met: cases.every((c) => c.goalMet) },
    cases,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'hg-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`hg: ${CHANGESETS} changesets, ${storeMB} MB store; ${ROUNDS} rounds after one warm-up; wall time medians in ms`);
  console.log(`${'case'.padEnd(10)}${'gateway'.padStart(9)}${'hg serve'.padStart(10)}${'hgwebdir'.padStart(10)}   gateway/hg serve (paired, of medians)   gateway/hgwebdir (paired)`);
  for (const c of cases) {
    const o = c.gatewayOver;
    console.log(
      `${c.case.padEnd(10)}${String(c.ms.gateway.median).padStart(9)}${String(c.ms['hg-serve'].median).padStart(10)}${String(c.ms.hgwebdir.median).padStart(10)}   ${o['hg-serve'].medianOfPaired.toFixed(3)}x, ${o['hg-serve'].ofMedians.toFixed(3)}x${' '.repeat(22)}${o.hgwebdir.medianOfPaired.toFixed(3)}x`,
    );
  }
  console.log(`goal (gateway <= ${GOAL}x hg serve -R, median of per-round ratios): ${out.goal.met ? 'met' : 'NOT met'}; ${out.seconds}s`);
}

async function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all([...children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit')));
  rmSync(work, { recursive: true, force: true });
}

main().then(
  () => cleanup().then(() => process.exit(0)),
  (e) => {
    console.error(e);
    cleanup().then(() => process.exit(1));
  },
);

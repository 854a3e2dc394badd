// Benchmark: Mercurial through Ajar's gateway against `hg serve` on the same
// repository, in the same run.
//
// A generated repository (BENCH_HG_CHANGESETS changesets, default 3,000, each
// changing one ~10 KB incompressible file: tens of MB of store) is copied for
// each server:
//   - gateway: a real `ajar serve` on its embedded database, Mercurial's hgweb
//     behind it (the warm worker), reached as alice with an API token over HTTP
//     Basic, with auto-approved grants (read on hg:billing; push on
//     hg:billing:default and hg:push-*); pushes run Ajar's pretxnclose hook,
//     which asks the server to decide;
//   - baseline: `hg serve` (hgwebdir over the same kind of root), no hooks.
// Cases: `hg clone -U` into /dev/shm, and a push of 100 new changesets (~1 MB)
// to a fresh copy of the repository (one per round and server, made before
// timing). Servers alternate; one warm-up round, then ROUNDS measured rounds.
//
// Goal: <= 1.10x the baseline's wall time (ratio of the medians).
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

  const gwRoot = join(work, 'gw');
  const blRoot = join(work, 'bl');
  mkdirSync(gwRoot);
  mkdirSync(blRoot);
  const targets = ROUNDS + 1;
  for (const root of [gwRoot, blRoot]) {
    await run('hg', ['clone', '-U', '-q', base, join(root, 'billing')]);
    for (let i = 0; i < targets; i++) await run('hg', ['clone', '-U', '-q', base, join(root, `push-${i}`)]);
    for (const name of ['billing', ...Array.from({ length: targets }, (_, i) => `push-${i}`)]) {
      writeFileSync(join(root, name, '.hg', 'hgrc'), '[phases]\npublish = False\n');
    }
  }

  // Ajar, serving gwRoot.
  const cfg = parseYaml(readFileSync(join(ROOT, 'examples', 'ajar.yaml'), 'utf8'));
  cfg.hg = { root: gwRoot };
  delete cfg.git;
  cfg.resources.push(...Array.from({ length: targets }, (_, i) => ({ id: `hg:push-${i}` })));
  cfg.policy.rules.push(
    { name: 'bench-push', who: { users: ['alice'] }, resources: ['hg:push-*:default'], actions: ['push'], max_duration: '8h', approval: 'auto' },
    { name: 'bench-read', who: { users: ['alice'] }, resources: ['hg:push-*'], actions: ['read'], max_duration: '8h', approval: 'auto' },
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
  cli(['request', '--resource', 'hg:billing', '--action', 'read', '--duration', '8h', '--reason', 'bench']);
  for (let i = 0; i < targets; i++) {
    cli(['request', '--resource', `hg:push-${i}`, '--action', 'read', '--duration', '8h', '--reason', 'bench']);
    cli(['request', '--resource', `hg:push-${i}:default`, '--action', 'push', '--duration', '8h', '--reason', 'bench']);
  }

  // hg serve, serving blRoot (hgwebdir), pushes allowed, no hooks.
  const port = await freePort();
  const webConf = join(work, 'web.conf');
  writeFileSync(webConf, `[paths]\n/ = ${blRoot}/*\n[web]\npush_ssl = false\nallow-push = *\n`);
  const serve = spawn('hg', ['serve', '--web-conf', webConf, '-a', '127.0.0.1', '-p', String(port)], { env, stdio: 'ignore' });
  children.add(serve);
  for (let i = 0; i < 100; i++) {
    try {
      await run('hg', ['identify', `http://127.0.0.1:${port}/billing`]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const u = new URL(url);
  const gw = (name) => `http://alice:${token}@${u.host}/hg/${name}`;
  const bl = (name) => `http://127.0.0.1:${port}/${name}`;
  const results = { clone: { gateway: [], baseline: [] }, push: { gateway: [], baseline: [] } };
  for (let round = 0; round <= ROUNDS; round++) {
    const order = round % 2 === 0 ? ['gateway', 'baseline'] : ['baseline', 'gateway'];
    for (const who of order) {
      const src = who === 'gateway' ? gw : bl;
      const dest = join(work, `clone-${who}-${round}`);
      const c = await run('hg', ['clone', '-U', '-q', src('billing'), dest]);
      rmSync(dest, { recursive: true, force: true });
      const p = await run('hg', ['push', '-R', pusher, '-q', src(`push-${round}`)]);
      if (round > 0) {
        results.clone[who].push(c.ms);
        results.push[who].push(p.ms);
      }
    }
  }

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const cases = Object.entries(results).map(([name, r]) => {
    const g = median(r.gateway);
    const b = median(r.baseline);
    return { case: name, gatewayMs: { median: +g.toFixed(1), min: +Math.min(...r.gateway).toFixed(1), all: r.gateway.map((x) => +x.toFixed(1)) }, baselineMs: { median: +b.toFixed(1), min: +Math.min(...r.baseline).toFixed(1), all: r.baseline.map((x) => +x.toFixed(1)) }, ratio: +(g / b).toFixed(3) };
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
    goal: { maxRatio: GOAL, met: cases.every((c) => c.ratio <= GOAL) },
    cases,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'hg-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`hg: ${CHANGESETS} changesets, ${storeMB} MB store; ${ROUNDS} rounds after one warm-up`);
  console.log('case    gateway median   hg serve median   ratio');
  for (const c of cases) console.log(`${c.case.padEnd(8)}${`${c.gatewayMs.median} ms`.padStart(15)}${`${c.baselineMs.median} ms`.padStart(18)}${c.ratio.toFixed(3).padStart(8)}`);
  console.log(`goal <= ${GOAL}x: ${out.goal.met ? 'met' : 'NOT met'}`);
}

async function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all([...children].filter((c) => c.exitCode === null).map((c) => once(c, 'exit')));
  rmSync(work, { recursive: true, force: true });
}

main().then(
  () => cleanup().then(() => process.exit(0)),
  (e) => {
    console.error(e);
    cleanup().then(() => process.exit(1));
  },
);

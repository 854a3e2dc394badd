// Benchmark: Git smart HTTP through Ajar's gateway against the same
// `git http-backend` with nothing in front, in the same run.
//
// A generated repository (5,000 commits, ~50 MB packed: incompressible blobs from a
// seeded PRNG, built with `git fast-import`) is copied to one root per server:
//   - gateway: a real `ajar serve` on its embedded database (config =
//     examples/ajar.yaml + `git.root` + a `git:mirror` repository), reached as alice
//     with an API token over HTTP Basic, with auto-approved grants (read on
//     git:payments, push on git:payments:feature/** and git:mirror:**); pushes run
//     Ajar's hooks (core.hooksPath), whose pre-receive asks the server to decide;
//   - gateway-pg: the same on PostgreSQL, when one answers at BENCH_DATABASE_URL
//     (default postgres://postgres@127.0.0.1:5432/postgres; a fresh database, dropped
//     at the end; BENCH_GIT_POSTGRES=0 skips it). Not part of the goal: it shows
//     what the size of the gateway's process costs;
//   - baseline: a minimal Node server (this file, in its own process) running
//     `git http-backend` per request as a CGI, streaming both ways, no hooks.
// All are driven by the stock git client; each case runs on every server in turn
// (order rotating each round), one warm-up round, then ROUNDS measured rounds.
//
// Goal: clone and push of the ~50 MB repository through the gateway <= 1.05x the
// baseline's wall time: the median over the rounds of the ratio within a round
// (the servers take turns within a round, so a busy moment of the machine weighs
// on both sides of a ratio; the ratio of the medians is printed too). Also
// measured, not part of the goal: a small push (its fixed cost) and ls-remote.
//
// Run: npm run bench   (or node bench/git.bench.js on an existing build;
//      results written to bench/results/git-latest.json)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

// --- the baseline server: `node bench/git.bench.js --baseline-server <root>` ---------
// Nothing but git http-backend behind a CGI runner like Ajar's (spawn per request,
// request body piped in, CGI header block parsed, response streamed out).
function baselineServer() {
  const root = process.argv[3];
  const server = createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '').split(/\?(.*)/s);
    if (!path.startsWith('/git/')) {
      res.writeHead(404).end();
      return;
    }
    const h = (name) => (Array.isArray(req.headers[name]) ? req.headers[name][0] : req.headers[name]);
    const env = {
      // The same curated environment as Ajar's gitEnv, without its hooks.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
      HOME: tmpdir(),
      LANG: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(path.slice('/git'.length)),
      QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? 'GET',
      REMOTE_USER: 'alice', // enables receive-pack
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
    };
    for (const [v, name] of [['CONTENT_TYPE', 'content-type'], ['CONTENT_LENGTH', 'content-length'], ['HTTP_CONTENT_ENCODING', 'content-encoding'], ['GIT_PROTOCOL', 'git-protocol']]) {
      if (h(name) !== undefined) env[v] = h(name);
    }
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', (e) => process.stderr.write(`baseline: cannot run git http-backend: ${e.message}\n`));
    child.stdin.on('error', () => {});
    req.pipe(child.stdin);
    res.on('close', () => child.exitCode === null && child.kill('SIGTERM'));
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      if (crlf === -1 && lf === -1) return;
      const [at, len] = lf === -1 || (crlf !== -1 && crlf < lf) ? [crlf, 4] : [lf, 2];
      child.stdout.off('data', onData);
      let status = 200;
      const headers = {};
      for (const line of head.subarray(0, at).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const name = line.slice(0, i).trim().toLowerCase();
        const value = line.slice(i + 1).trim();
        if (name === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      const rest = head.subarray(at + len);
      head = null;
      if (rest.length > 0) res.write(rest);
      child.stdout.pipe(res);
    };
    child.stdout.on('data', onData);
    child.on('close', (code) => {
      if (head !== null) {
        process.stderr.write(`baseline: git http-backend exited (${code}) before answering: ${stderr}\n`);
        if (!res.headersSent) res.writeHead(502).end();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`baseline listening on http://127.0.0.1:${server.address().port}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

// --- the benchmark ----------------------------------------------------------------------

async function main() {
  const COMMITS = Number(process.env.BENCH_GIT_COMMITS ?? 5_000);
  const BLOB_BYTES = 10_000; // one incompressible file changed per commit
  const FILES = 500; // in 50 directories; the first 500 commits add them, the rest modify them
  const PUSH_COMMITS = 200;
  const PUSH_BLOB_BYTES = 25_000; // ~5 MB per pushed branch
  const ROUNDS = Number(process.env.BENCH_GIT_ROUNDS ?? 15);
  const LS_REPS = 10; // ls-remote runs per server per round (a small operation; more samples)
  const GOAL = 1.05;
  const started = Date.now();

  const children = new Set();
  const dirs = [];
  const atExit = []; // more cleanup (the PostgreSQL database), after the processes are gone
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    const exits = [];
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        exits.push(once(c, 'exit'));
        c.kill('SIGTERM');
      }
    }
    const timer = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, 5000);
    await Promise.all(exits);
    clearTimeout(timer);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const f of atExit) await f().catch((e) => console.error(`cleanup: ${e.message}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      console.error(`\n${sig}: cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }

  const shm = existsSync('/dev/shm') && statSync('/dev/shm').isDirectory() ? '/dev/shm' : tmpdir();
  const work = mkdtempSync(join(shm, 'ajar-git-bench-'));
  dirs.push(work);
  const home = join(work, 'home');
  mkdirSync(home);

  /** The client's environment: no system or global git config, no prompts. */
  const clientEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  };

  /** Run a command; resolves with its output and wall time (ms), rejects on failure. */
  function run(cmd, args, { env = clientEnv, cwd = work, input, okCodes = [0] } = {}) {
    return new Promise((ok, fail) => {
      const t0 = performance.now();
      const c = spawn(cmd, args, { env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      if (input !== undefined) c.stdin.end(input);
      children.add(c);
      const out = [];
      let err = '';
      c.stdout.on('data', (d) => out.push(d));
      c.stderr.setEncoding('utf8').on('data', (d) => {
        if (err.length < 16384) err += d;
      });
      c.on('error', fail);
      c.on('close', (code, signal) => {
        const ms = performance.now() - t0;
        children.delete(c);
        const stdout = Buffer.concat(out).toString('utf8');
        if (okCodes.includes(code)) ok({ ms, code, stdout, stderr: err });
        else fail(new Error(`${cmd} ${args.map(redact).join(' ')} failed (${code ?? signal}):\n${err}${stdout.slice(0, 2000)}`));
      });
    });
  }
  const redact = (s) => String(s).replace(/\/\/([^:/@]+):[^@/]+@/, '//$1:***@');
  const git = (args, opts) => run('git', args, opts);

  /** A long-running child that prints `... listening on URL` on stdout. */
  async function startServer(name, cmd, args, env, onLine) {
    const c = spawn(cmd, args, { env, cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let err = '';
    let partial = '';
    c.stderr.setEncoding('utf8').on('data', (d) => {
      err = (err + d).slice(-8192); // drained (Ajar logs every request), the tail kept for errors
      if (!onLine) return;
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const l of lines) onLine(l);
    });
    c.stdout.setEncoding('utf8');
    const url = await new Promise((ok, fail) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`${name} did not start within 60 s:\n${err}`)), 60_000);
      c.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          ok(m[1]);
        }
      });
      c.on('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`${name} exited (${code}) before listening:\n${err}`));
      });
    });
    if (process.env.BENCH_GIT_TRACE_GC) c.stdout.on('data', (d) => appendFileSync(join(tmpdir(), `ajar-git-bench-gc-${name.replace(/\W+/g, '_')}.log`), d));
    c.stdout.resume();
    return { url, child: c };
  }

  /**
   * A real `ajar serve` over `root`: config = examples/ajar.yaml + git.root + the
   * mirror repository; alice's token; her auto-approved grants.
   */
  async function startAjar(name, root, databaseUrl) {
    const config = parseYaml(readFileSync(join(ROOT, 'examples', 'ajar.yaml'), 'utf8'));
    config.git = { root };
    // An empty repository to push the whole history into (the "big push").
    config.resources.push({ id: 'git:mirror' });
    config.policy.rules.push({ name: 'bench-mirror', who: { groups: ['eng'] }, resources: ['git:mirror:**'], actions: ['push'], default_duration: '8h', max_duration: '8h', approval: 'auto' });
    const configFile = join(work, `${name}.yaml`);
    writeFileSync(configFile, stringifyYaml(config));
    // The data directory (embedded database, admin socket) on the ordinary temp file system, as deployed.
    const dataDir = mkdtempSync(join(tmpdir(), 'ajar-git-bench-data-'));
    dirs.push(dataDir);
    const env = { ...process.env, DATABASE_URL: databaseUrl ?? '', HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
    for (const k of Object.keys(env)) if (k.startsWith('AJAR_')) delete env[k];
    if (databaseUrl) await run(process.execPath, [CLI, 'db', 'migrate', '--config', configFile], { env });
    const t0 = performance.now();
    // Ajar logs each request with its duration: keep the Git requests and the times of the hook's question.
    const decisionMs = [];
    const gitRequests = [];
    const onLine = (line) => {
      if (!line.includes('/git')) return;
      try {
        const j = JSON.parse(line);
        if ((j.path === '/v1/git/push' || j.path === '/v1/git/pre-receive') && typeof j.ms === 'number') decisionMs.push(j.ms);
        else if (j.msg === 'git' && typeof j.path === 'string') gitRequests.push(`${j.method} ${j.path.replace(/^\/git\/[^/]+\.git\//, '')} ${j.status}`);
      } catch {}
    };
    const server = await startServer(`ajar serve (${name})`, process.execPath, [...(process.env.BENCH_GIT_TRACE_GC ? ['--trace-gc'] : []), CLI, 'serve', '--config', configFile, '--data-dir', dataDir, '--port', '0'], env, onLine);
    const startSeconds = (performance.now() - t0) / 1000;
    const tok = await run(process.execPath, [CLI, 'token', 'create', '--user', 'alice', '--config', configFile, '--data-dir', dataDir, '--local'], { env });
    const token = /\bajar_[A-Za-z0-9_-]+/.exec(tok.stdout)?.[0];
    if (!token) throw new Error(`no token in: ${tok.stdout}`);
    const asAlice = { ...env, AJAR_URL: server.url, AJAR_TOKEN: token };
    for (const [resource, action] of [['git:payments', 'read'], ['git:payments:feature/**', 'push'], ['git:mirror:**', 'push']]) {
      const r = await run(process.execPath, [CLI, 'request', '--resource', resource, '--action', action, '--duration', '8h', '--reason', 'bench'], { env: asAlice });
      if (!/approved/.test(r.stdout)) throw new Error(`request for ${action} on ${resource} not approved:\n${r.stdout}`);
    }
    const withAuth = server.url.replace('//', `//alice:${token}@`);
    return { name, root, ajar: true, pid: server.child.pid, baseUrl: server.url, startSeconds, decisionMs, gitRequests, url: (repo) => `${withAuth}/git/${repo}.git` };
  }

  /** A fresh database on the PostgreSQL server at BENCH_DATABASE_URL (or 127.0.0.1:5432), if one answers. */
  async function postgresDatabase() {
    if (process.env.BENCH_GIT_POSTGRES === '0') return undefined;
    const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    const dbName = `ajar_bench_git_${randomBytes(6).toString('hex')}`;
    const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      const version = (await c.query('show server_version')).rows[0].server_version;
      await c.query(`create database ${dbName}`);
      atExit.push(async () => {
        const d = new pg.Client({ connectionString: admin });
        await d.connect();
        await d.query(`drop database if exists ${dbName} with (force)`);
        await d.end();
      });
      const u = new URL(admin);
      u.pathname = `/${dbName}`;
      return { url: u.toString(), version };
    } catch (e) {
      console.log(`PostgreSQL not usable at ${redact(admin)} (${e.message}); skipping the gateway-on-PostgreSQL figures`);
      return undefined;
    } finally {
      await c.end().catch(() => {});
    }
  }

  try {
    // --- 1. The repository ----------------------------------------------------------------
    const gitVersion = (await git(['--version'])).stdout.trim();
    console.log(`git gateway benchmark: node ${process.version}, ${gitVersion}, ${cpus().length} cores, work dir ${work}`);
    let t = performance.now();
    const src = join(work, 'src.git');
    await git(['init', '-q', '--bare', '--initial-branch=main', src]);
    const mainSha = await fastImport(src, mainHistory(COMMITS, FILES, BLOB_BYTES));
    const genSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    // As a served repository normally is: one pack, bitmap, commit-graph.
    await git(['-C', src, 'gc', '--quiet']);
    const gcSeconds = (performance.now() - t) / 1000;
    const objects = Object.fromEntries(
      (await git(['-C', src, 'count-objects', '-v'])).stdout
        .trim()
        .split('\n')
        .map((l) => l.split(': '))
        .map(([k, v]) => [k, Number(v)]),
    );
    const commitCount = Number((await git(['-C', src, 'rev-list', '--count', 'main'])).stdout.trim());
    const repo = { commits: commitCount, packedMB: r2(objects['size-pack'] / 1024), objects: objects['in-pack'], head: mainSha };
    console.log(`repository: ${commitCount} commits, ${repo.objects} objects, ${repo.packedMB} MB packed; generated in ${genSeconds.toFixed(1)} s, gc ${gcSeconds.toFixed(1)} s`);

    // The pushing client's repository: the same history plus one new branch per round.
    const pusher = join(work, 'pusher.git');
    cpSync(src, pusher, { recursive: true });
    t = performance.now();
    const pushShas = await fastImport(pusher, pushBranches(ROUNDS + 1, mainSha, PUSH_COMMITS, PUSH_BLOB_BYTES), true);
    const pushMB = r2((PUSH_COMMITS * PUSH_BLOB_BYTES) / 1e6);
    console.log(`pushed branches: ${ROUNDS + 1} x ${PUSH_COMMITS} commits (~${pushMB} MB each), generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // --- 2. The servers: each serves its own copy, so pushes to one never help another --------
    const rootOf = (name) => {
      const r = join(work, `${name}-root`);
      cpSync(src, join(r, 'payments.git'), { recursive: true });
      return r;
    };
    const servers = [];
    const gateway = await startAjar('gateway', rootOf('gateway'));
    servers.push(gateway);
    console.log(`gateway:    ajar serve, embedded database (started in ${gateway.startSeconds.toFixed(1)} s)`);
    const pgdb = await postgresDatabase();
    if (pgdb) {
      const gpg = await startAjar('gateway-pg', rootOf('gateway-pg'), pgdb.url);
      servers.push(gpg);
      console.log(`gateway-pg: ajar serve, PostgreSQL ${pgdb.version} (started in ${gpg.startSeconds.toFixed(1)} s)`);
    }
    const baseRoot = rootOf('baseline');
    const base = await startServer('baseline server', process.execPath, [...(process.env.BENCH_GIT_TRACE_GC ? ['--trace-gc'] : []), import.meta.filename, '--baseline-server', baseRoot], { PATH: process.env.PATH });
    servers.push({ name: 'baseline', root: baseRoot, ajar: false, pid: base.child.pid, url: (r) => `${base.url}/git/${r}.git` });
    console.log('baseline:   git http-backend, nothing in front');

    // --- 3. The cases ---------------------------------------------------------------------------
    const clientDir = join(work, 'client');
    mkdirSync(clientDir);
    let n = 0;
    const clone = (protocol) => async (s) => {
      const dest = join(clientDir, `c${n++}`);
      const { ms } = await git(['-c', `protocol.version=${protocol}`, 'clone', '-q', '--bare', s.url('payments'), dest]);
      await expectRef(dest, 'refs/heads/main', mainSha);
      rmSync(dest, { recursive: true, force: true });
      return ms;
    };
    const cases = [
      { name: 'clone-v2', what: `git clone --bare (protocol v2) of the ${repo.packedMB} MB repository into ${shm}`, goal: true, run: clone(2) },
      { name: 'clone-v0', what: 'the same clone with protocol v0', goal: true, run: clone(0) },
      {
        name: 'push-branch',
        what: `git push of a new branch feature/bench-N: ${PUSH_COMMITS} new commits (~${pushMB} MB) on top of main (not part of the goal: the fixed cost of a push, mostly the authoritative hook and its audited decision)`,
        goal: false,
        async run(s, round) {
          const ref = `refs/heads/feature/bench-${round}`;
          const { ms, stderr } = await git(['-C', pusher, 'push', '-q', s.url('payments'), `refs/heads/push-${round}:${ref}`]);
          if (s.ajar && !/push to payments allowed/.test(stderr)) throw new Error(`the push did not go through Ajar's hook:\n${stderr}`);
          await expectRef(join(s.root, 'payments.git'), ref, pushShas[round]);
          // Untimed: drop the ref on the server, so every clone sees the same refs.
          await git(['-C', join(s.root, 'payments.git'), 'update-ref', '-d', ref]);
          return ms;
        },
      },
      {
        name: 'push-full',
        what: `git push of the whole history (main, ${commitCount} commits, ${repo.packedMB} MB) into an empty repository`,
        goal: true,
        async before(s) {
          const dir = join(s.root, 'mirror.git');
          rmSync(dir, { recursive: true, force: true });
          await git(['init', '-q', '--bare', dir]);
        },
        async run(s) {
          const { ms, stderr } = await git(['-C', pusher, 'push', '-q', s.url('mirror'), 'refs/heads/main:refs/heads/main']);
          if (s.ajar && !/push to mirror allowed/.test(stderr)) throw new Error(`the push did not go through Ajar's hook:\n${stderr}`);
          await expectRef(join(s.root, 'mirror.git'), 'refs/heads/main', mainSha);
          return ms;
        },
      },
      {
        name: 'ls-remote',
        what: 'git ls-remote (protocol v2): the fixed cost of one operation, no pack (not part of the goal)',
        goal: false,
        reps: LS_REPS,
        async run(s) {
          const { ms, stdout } = await git(['-c', 'protocol.version=2', 'ls-remote', s.url('payments'), 'refs/heads/main']);
          if (!stdout.startsWith(mainSha)) throw new Error(`ls-remote: unexpected answer ${stdout}`);
          return ms;
        },
      },
    ];

    async function expectRef(dir, ref, sha) {
      const got = (await git(['-C', dir, 'rev-parse', '--verify', '-q', ref])).stdout.trim();
      if (got !== sha) throw new Error(`${dir}: ${ref} is ${got}, expected ${sha}`);
    }

    // Round 0 is the warm-up. Within a round each case runs on every server, the
    // order rotating from round to round (with two servers: alternating).
    const times = Object.fromEntries(cases.map((c) => [c.name, Object.fromEntries(servers.map((s) => [s.name, []]))]));
    const requestsPerRun = {}; // the gateway's HTTP requests in one run of each case (from its log)
    const ratioOf = (c, a, b, last) => median(times[c.name][a].slice(-last)) / median(times[c.name][b].slice(-last));
    for (let round = 0; round <= ROUNDS; round++) {
      const order = servers.map((_, i) => servers[(i + round) % servers.length]);
      for (const c of cases) {
        for (const s of order) {
          for (let k = 0; k < (c.reps ?? 1); k++) {
            if (c.before) await c.before(s);
            const logged = s.gitRequests?.length;
            const ms = await c.run(s, round);
            if (round > 0) times[c.name][s.name].push(ms);
            if (s.name === 'gateway' && k === 0) requestsPerRun[c.name] = s.gitRequests.slice(logged);
          }
        }
      }
      if (round === 0) console.log('warm-up done');
      else console.log(`round ${round}/${ROUNDS}, gateway/baseline: ${cases.map((c) => `${c.name} ${ratioOf(c, 'gateway', 'baseline', c.reps ?? 1).toFixed(3)}x`).join(', ')}`);
    }

    // The hook's question as the server timed it (its log), over the pushes above (warm-up included).
    const decision = Object.fromEntries(servers.filter((s) => s.ajar).map((s) => [s.name, { median: r2(median(s.decisionMs)), min: r2(Math.min(...s.decisionMs)), n: s.decisionMs.length }]));

    // --- 4. Where the time goes -------------------------------------------------------------------
    // Ajar's process size (the embedded database lives in it) and what starting a
    // child costs from a process that size: the gateway starts git http-backend for
    // every request, and Node on Linux does it with fork + exec.
    const rssMB = (pid) => {
      try {
        return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024);
      } catch {
        return undefined;
      }
    };
    const serverRssMB = Object.fromEntries(servers.map((s) => [s.name, rssMB(s.pid)]));
    const spawnProbe = {};
    for (const mb of [0, serverRssMB.gateway ?? 0]) {
      spawnProbe[`${mb}MB`] = JSON.parse((await run(process.execPath, [import.meta.filename, '--spawn-probe', String(mb)])).stdout);
    }
    const timeIt = async (n, fn) => {
      const xs = [];
      for (let i = 0; i < n; i++) xs.push(await fn());
      return { median: r2(median(xs)), min: r2(Math.min(...xs)) };
    };
    const nodeStartupMs = await timeIt(11, async () => (await run(process.execPath, ['-e', '0'])).ms);
    // Ajar's pre-receive hook on its own, as receive-pack runs it (bash, git for-each-ref,
    // one question to the server over loopback), with a session the server refuses at
    // once: everything but the decision itself.
    const hooksDir = join(ROOT, 'hooks', 'git');
    const hookEnv = { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: home, LANG: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_DIR: join(gateway.root, 'payments.git'), AJAR_HOOK_URL: gateway.baseUrl, AJAR_PUSH_SESSION: 'ajps_bench-not-a-session', AJAR_GIT_REPO: 'payments' };
    const hookInput = `${'0'.repeat(40)} ${mainSha} refs/heads/feature/bench-hook\n`;
    const decisionsBefore = gateway.decisionMs.length;
    const preReceiveMs = await timeIt(11, async () => {
      const r = await run(join(hooksDir, 'pre-receive'), [], { env: hookEnv, cwd: hookEnv.GIT_DIR, input: hookInput, okCodes: [1] });
      if (!/no valid Ajar session/.test(r.stderr)) throw new Error(`the hook probe did not reach Ajar: ${r.stderr}`);
      return r.ms;
    });
    const refusedDecisionMs = gateway.decisionMs.splice(decisionsBefore);
    // The hook asks with fetch(); what one question costs a fresh node process with
    // fetch() (undici: loaded on first use, slow to exit) against node:http.
    const question = `{ method: 'POST', headers: { authorization: 'Bearer ajps_bench-not-a-session', 'content-type': 'application/json' } }`;
    const clientScripts = {
      fetch: `const r = await fetch(process.env.U, { ...${question}, body: '{}' }); await r.text(); process.exit(0);`,
      'node:http': `import { request } from 'node:http'; await new Promise((ok, fail) => request(process.env.U, ${question}, (res) => { res.resume(); res.on('end', ok); }).on('error', fail).end('{}')); process.exit(0);`,
    };
    const oneQuestionMs = {};
    for (const [k, script] of Object.entries(clientScripts)) {
      oneQuestionMs[k] = await timeIt(11, async () => (await run(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, U: `${gateway.baseUrl}/v1/git/push` } })).ms);
    }
    // One of the three pass-through hooks (update, post-receive, post-update), with no hook of the repository's own.
    const passThroughHookMs = await timeIt(11, async () => (await run(join(hooksDir, 'update'), ['refs/heads/x', '0'.repeat(40), mainSha], { env: hookEnv, cwd: hookEnv.GIT_DIR })).ms);
    const diagnostics = {
      serverRssMB,
      spawnMs: spawnProbe,
      nodeStartupMs,
      preReceiveHookRefusedSessionMs: preReceiveMs,
      refusedDecisionServerMs: { median: r2(median(refusedDecisionMs)) },
      passThroughHookMs,
      nodeProcessWithOneQuestionMs: oneQuestionMs,
      pushDecisionServerMs: decision,
    };

    // --- 5. Report --------------------------------------------------------------------------------
    const names = servers.map((s) => s.name);
    const results = cases.map((c) => {
      const per = Object.fromEntries(names.map((nm) => [nm, stats(times[c.name][nm])]));
      const b = per.baseline;
      const ratios = Object.fromEntries(
        names
          .filter((nm) => nm !== 'baseline')
          .map((nm) => {
            const perRound = times[c.name][nm].map((x, i) => x / times[c.name].baseline[i]);
            return [nm, { ofMedians: r3(per[nm].median / b.median), ofMins: r3(per[nm].min / b.min), medianOfPaired: r3(median(perRound)), extraMsAtMedian: r2(per[nm].median - b.median) }];
          }),
      );
      return { case: c.name, what: c.what, partOfGoal: c.goal, runs: b.n, unit: 'ms', gatewayRequestsPerRun: requestsPerRun[c.name], ...per, ratioOverBaseline: ratios, goalMet: c.goal ? ratios.gateway.medianOfPaired <= GOAL : undefined };
    });
    console.log(`\nwall time, ms, ${ROUNDS} runs per server (ls-remote ${ROUNDS * LS_REPS}) after a warm-up; ratios over the baseline: of the medians, of the mins, median of the per-round ratios`);
    console.log(`  ${'case'.padEnd(12)} ${'server'.padEnd(11)} ${'min'.padStart(6)} ${'median'.padStart(7)} ${'ratio'.padStart(7)} ${'mins'.padStart(6)} ${'paired'.padStart(7)}  goal <= ${GOAL}`);
    const shown = ['baseline', ...names.filter((nm) => nm !== 'baseline')];
    for (const r of results) {
      for (const nm of shown) {
        const q = r.ratioOverBaseline[nm];
        const goal = nm === 'gateway' && r.goalMet !== undefined ? (r.goalMet ? 'met' : 'NOT met') : '';
        const ratios = q ? `${`${q.ofMedians.toFixed(2)}x`.padStart(7)} ${`${q.ofMins.toFixed(2)}x`.padStart(6)} ${`${q.medianOfPaired.toFixed(2)}x`.padStart(7)}` : ''.padStart(22);
        console.log(`  ${(nm === shown[0] ? r.case : '').padEnd(12)} ${nm.padEnd(11)} ${f0(r[nm].min).padStart(6)} ${f0(r[nm].median).padStart(7)} ${ratios}  ${goal}`);
      }
    }
    const goalMet = results.filter((r) => r.partOfGoal).every((r) => r.goalMet);
    console.log(`goal (clone and push through the gateway <= ${GOAL}x the baseline, median of the per-round ratios): ${goalMet ? 'met' : 'NOT met'}`);
    console.log('\nthe gateway\'s HTTP requests per run (from its log):');
    for (const r of results) console.log(`  ${r.case.padEnd(12)} ${r.gatewayRequestsPerRun.length}: ${r.gatewayRequestsPerRun.join(', ')}`);
    console.log(`where the time goes: ajar serve RSS ${names.filter((nm) => serverRssMB[nm] !== undefined).map((nm) => `${nm} ${serverRssMB[nm]} MB`).join(', ')};`);
    console.log(`  spawn of a child (fork + exec), median/min: ${Object.entries(spawnProbe).map(([k, v]) => `from a ${k} process ${v.median}/${v.min} ms`).join(', ')}`);
    console.log(`  node startup (what the Node hook of hook mode pays; the gateway's bash hook does not): median ${nodeStartupMs.median} ms, min ${nodeStartupMs.min} ms`);
    console.log(`  pre-receive hook alone (refused session: all but the decision): median ${preReceiveMs.median} ms, min ${preReceiveMs.min} ms`);
    console.log(`  a node process asking one question: with fetch() median ${oneQuestionMs.fetch.median} ms, with node:http median ${oneQuestionMs['node:http'].median} ms`);
    console.log(`  the decision, server side (/v1/git/pre-receive during the pushes): ${Object.entries(decision).map(([k, v]) => `${k} median ${v.median} ms`).join(', ')}`);
    console.log(`  a pass-through hook (update, post-receive, post-update; 3 per push): median ${passThroughHookMs.median} ms`);

    mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
    const out = {
      date: new Date().toISOString(),
      node: process.version,
      git: gitVersion,
      platform: `${process.platform} ${process.arch}`,
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      loadAverageAtEnd: loadavg().map(r2),
      workDir: shm,
      repository: { ...repo, generateSeconds: r2(genSeconds), gcSeconds: r2(gcSeconds) },
      pushedBranch: { commits: PUSH_COMMITS, approxMB: pushMB },
      servers: servers.map((s) => ({ name: s.name, ajar: s.ajar, database: s.name === 'gateway' ? 'embedded (PGlite)' : s.name === 'gateway-pg' ? `PostgreSQL ${pgdb.version}` : undefined })),
      rounds: ROUNDS,
      warmupRuns: 1,
      goal: { maxRatio: GOAL, measure: 'median over the rounds of (gateway wall time / baseline wall time in the same round)', met: goalMet },
      cases: results,
      diagnostics,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    writeFileSync(join(import.meta.dirname, 'results', 'git-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\ndone in ${out.seconds}s; results in bench/results/git-latest.json`);
  } finally {
    await cleanup();
  }

  // --- helpers --------------------------------------------------------------------------------

  /** Feed a fast-import stream (an async generator of strings and Buffers) to a repository. */
  async function fastImport(dir, stream, many = false) {
    const c = spawn('git', ['fast-import', '--quiet', '--done'], { env: clientEnv, cwd: dir, stdio: ['pipe', 'ignore', 'pipe'] });
    children.add(c);
    let err = '';
    c.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const closed = once(c, 'close');
    let result;
    try {
      for (;;) {
        const { value, done } = await stream.next();
        if (done) {
          result = value;
          break;
        }
        if (!c.stdin.write(value)) await Promise.race([once(c.stdin, 'drain'), closed]);
      }
      c.stdin.end();
    } catch (e) {
      c.kill();
      throw e;
    }
    const [code] = await closed;
    children.delete(c);
    if (code !== 0) throw new Error(`git fast-import failed (${code}): ${err}`);
    const sha = async (ref) => (await git(['-C', dir, 'rev-parse', ref])).stdout.trim();
    if (many) return Promise.all(result.map(sha));
    return sha(result);
  }
}

/** `--spawn-probe MB`: median and min ms to start a child (`true`) from a process holding MB of touched memory. */
async function spawnProbe(mb) {
  const keep = [];
  for (let i = 0; i < mb; i += 16) keep.push(Buffer.alloc(16 << 20, 1));
  const once1 = () =>
    new Promise((ok, fail) => {
      const t0 = performance.now();
      const c = spawn('true', [], { stdio: 'ignore' });
      c.on('error', fail);
      c.on('spawn', () => {
        const ms = performance.now() - t0;
        c.on('close', () => ok(ms));
      });
    });
  const ms = [];
  for (let i = 0; i < 45; i++) {
    const x = await once1();
    if (i >= 5) ms.push(x);
  }
  process.stdout.write(JSON.stringify({ median: r2(median(ms)), min: r2(Math.min(...ms)), heldMB: keep.length * 16 }));
}

// --- the generated history --------------------------------------------------------------------

/** A seeded PRNG (xorshift128): the same repository, down to the commit ids, every run. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  let y = 362436069;
  let z = 521288629;
  let w = 88675123;
  const next = () => {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w;
  };
  return {
    next,
    bytes(n) {
      const b = Buffer.allocUnsafe(Math.ceil(n / 4) * 4);
      for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(next(), i);
      return b.subarray(0, n);
    },
    pick: (a) => a[next() % a.length],
  };
}

const WORDS = 'access grant request approve deny branch release feature push fetch clone policy rule audit token session hook repository commit merge review deploy production window expire revoke'.split(' ');
const sentence = (rng, n) => Array.from({ length: n }, () => rng.pick(WORDS)).join(' ');
const data = (payload) => {
  const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return [`data ${b.length}\n`, b, '\n'];
};
const who = (i) => `Bench Author <bench@example.com> ${1_700_000_000 + i * 600} +0000\n`;

/** main: `commits` commits; each rewrites one of `files` random blobs and one small text file. */
async function* mainHistory(commits, files, blobBytes) {
  const rng = prng(20261123);
  for (let i = 0; i < commits; i++) {
    const f = i % files;
    const dir = `src/m${String(f % 50).padStart(2, '0')}`;
    yield `blob\nmark :${i + 1}\n`;
    yield* data(rng.bytes(blobBytes));
    yield `commit refs/heads/main\nauthor ${who(i)}committer ${who(i)}`;
    yield* data(`m${f % 50}: ${sentence(rng, 6)} (#${i})\n\n${sentence(rng, 30)}\n`);
    if (i === 0) {
      yield 'M 100644 inline README.md\n';
      yield* data('# payments\n\nGenerated by bench/git.bench.js.\n');
    }
    yield `M 100644 :${i + 1} ${dir}/blob-${f}.bin\n`;
    const notes = Array.from({ length: 12 }, (_, k) => `${k}. ${sentence(rng, 8)}`).join('\n');
    yield `M 100644 inline ${dir}/NOTES.md\n`;
    yield* data(`# ${dir} (revision ${i})\n\n${notes}\n`);
    yield '\n';
  }
  yield 'done\n';
  return 'refs/heads/main';
}

/** push-0 .. push-(n-1): each `commits` new commits on top of main, one random blob each. */
async function* pushBranches(n, base, commits, blobBytes) {
  const rng = prng(4242);
  const refs = [];
  let mark = 1;
  for (let b = 0; b < n; b++) {
    const ref = `refs/heads/push-${b}`;
    refs.push(ref);
    for (let i = 0; i < commits; i++) {
      yield `blob\nmark :${mark}\n`;
      yield* data(rng.bytes(blobBytes));
      yield `commit ${ref}\nauthor ${who(10_000 + b * commits + i)}committer ${who(10_000 + b * commits + i)}`;
      yield* data(`feature ${b}: ${sentence(rng, 6)}\n`);
      if (i === 0) yield `from ${base}\n`;
      yield `M 100644 :${mark} feature/bench-${b}/part-${i % 40}.bin\n\n`;
      mark++;
    }
  }
  yield 'done\n';
  return refs;
}

// --- statistics ---------------------------------------------------------------------------------

function median(xs) {
  const a = [...xs].sort((p, q) => p - q);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}
function stats(xs) {
  const a = [...xs].sort((p, q) => p - q);
  return { n: a.length, min: r2(a[0]), median: r2(median(a)), max: r2(a[a.length - 1]), all: xs.map(r2) };
}
function r2(x) {
  return Math.round(x * 100) / 100;
}
function r3(x) {
  return Math.round(x * 1000) / 1000;
}
function f0(x) {
  return x.toFixed(0);
}

if (process.argv[2] === '--baseline-server') baselineServer();
else if (process.argv[2] === '--spawn-probe') await spawnProbe(Number(process.argv[3]));
else await main();

// The CI snippets of docs/ci/README.md, run: the shell lines of each one
// (GitHub Actions steps, a GitLab job's script, a Jenkins `sh` block) with that
// CI's environment variables, against a real `ajar serve`. `npm` is a stand-in
// that fetches the CLI package from Ajar, unpacks it and links this checkout's
// node_modules (no registry in tests); the OIDC tokens come from a local issuer.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Ajar, type CliResult, startAjar } from './support/ajar.js';
import { gitConfig, policyRules, tempDir } from './support/git.js';

const ROOT = join(import.meta.dirname, '..');
const DOC = readFileSync(join(ROOT, 'docs', 'ci', 'README.md'), 'utf8');
const AUDIENCE = 'https://ajar.example.com';
const SECRET = `postgres://deploy:${'x'.repeat(8)}-s3cret@db/orders`;

/** The fenced block after `<!-- ci-snippet: NAME -->`. */
function snippet(name: string): string {
  const m = new RegExp(`<!-- ci-snippet: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC);
  if (!m) throw new Error(`docs/ci/README.md has no snippet ${name}`);
  return m[1]!;
}

/** A script to run: what the CI runs it with, and the variables the snippet sets. */
interface Script {
  shell: string[];
  text: string;
  env: Record<string, string>;
}

/** GitHub Actions: each `run` step in its own bash -eo pipefail, with the job's and the step's env. */
function githubScripts(yaml: string, secrets: Record<string, string>): Script[] {
  const job = Object.values(parse(yaml).jobs as Record<string, any>)[0];
  const expand = (v: unknown) => String(v).replace(/\$\{\{\s*secrets\.(\w+)\s*\}\}/g, (_, k: string) => secrets[k] ?? '');
  const envOf = (o: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, expand(v)]));
  return (job.steps as any[]).filter((s) => s.run).map((s) => ({ shell: ['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c'], text: s.run, env: { ...envOf(job.env), ...envOf(s.env) } }));
}

/** GitLab CI: the job's script lines in one shell (set -eo pipefail, as the runner does), with its variables. */
function gitlabScripts(yaml: string): { script: Script; idTokens: Record<string, { aud: string }> } {
  const job = Object.values(parse(yaml) as Record<string, any>)[0];
  return { script: { shell: ['bash', '-eo', 'pipefail', '-c'], text: (job.script as string[]).join('\n'), env: job.variables ?? {} }, idTokens: job.id_tokens ?? {} };
}

/** Jenkins: each `sh '''…'''` block with sh -xe (Jenkins' default), with the stage's environment. */
function jenkinsScripts(groovy: string, credentials: Record<string, string>): Script[] {
  const env: Record<string, string> = {};
  for (const m of (/environment \{([\s\S]*?)\}/.exec(groovy)?.[1] ?? '').matchAll(/(\w+) = (?:'([^']*)'|credentials\('([^']+)'\))/g)) env[m[1]!] = m[2] ?? credentials[m[3]!] ?? '';
  return [...groovy.matchAll(/sh '''\n([\s\S]*?)'''/g)].map((m) => ({ shell: ['sh', '-xe', '-c'], text: m[1]!, env }));
}

let a: Ajar;
let oidc: Server;
let base: string;
let key: CryptoKey;
let jwk: JWK;
const ghIssuer = () => `${base}/gh`;
const glIssuer = () => `${base}/gl`;

function sign(iss: string, aud: string, claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(a.now().getTime() / 1000);
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 300).sign(key);
}

/** The GitHub job's claims, for the token its runner hands out. */
let githubClaims: Record<string, unknown> = {};

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey as CryptoKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  oidc = createServer(async (req, res) => {
    const url = new URL(req.url!, base);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const issuer = url.pathname.startsWith('/gh/') ? ghIssuer() : glIssuer();
    if (url.pathname.endsWith('/.well-known/openid-configuration')) return send(200, { issuer, jwks_uri: `${issuer}/keys` });
    if (url.pathname.endsWith('/keys')) return send(200, { keys: [jwk] });
    // GitHub's ACTIONS_ID_TOKEN_REQUEST_URL: the job's bearer, the audience it asks for.
    if (url.pathname === '/gh/token') {
      if (req.headers.authorization !== 'bearer runner-request-token') return send(401, {});
      return send(200, { value: await sign(ghIssuer(), url.searchParams.get('audience') ?? '', githubClaims) });
    }
    send(404, {});
  });
  await new Promise<void>((ok) => oidc.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(oidc.address() as { port: number }).port}`;
  // The workload config of the doc, with its issuers pointed at the local ones.
  const documented = parse(/```yaml\n(workloads:[\s\S]*?)\n```/.exec(DOC)![1]!);
  documented.workloads.issuers.github = { ...documented.workloads.issuers.github, issuer: ghIssuer(), type: 'github' };
  documented.workloads.issuers.gitlab = { ...documented.workloads.issuers.gitlab, issuer: glIssuer(), type: 'gitlab' };
  a = await startAjar({
    config: gitConfig((doc) => {
      doc.set('secrets', { key_env: 'AJAR_TEST_SECRETS_KEY' });
      doc.set('workloads', documented.workloads);
      const rules = policyRules(doc);
      const deploy = rules.find((r: any) => r.name === 'production-deploy');
      deploy.actions = ['deploy', 'read-secrets'];
      deploy.require_artifact = true;
      doc.setIn(['policy', 'rules'], [...rules, ...documented.policy.rules]);
    }),
    serverEnv: { AJAR_TEST_SECRETS_KEY: Buffer.alloc(32, 9).toString('base64') },
  });
  const set = await a.cli(['secret', 'set', 'env:payments:production', 'DB_URL'], { stdin: SECRET });
  expect(set.code, set.stderr).toBe(0);
});
afterAll(async () => {
  await a?.stop();
  await new Promise((ok) => oidc?.close(ok));
});

/** A CI workspace: deploy.sh records what it deployed; npm installs the CLI from Ajar. */
function workspace() {
  const dir = tempDir('ci-');
  const bin = join(dir, 'fake-bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'npm'), NPM, { mode: 0o755 });
  const ws = join(dir, 'workspace');
  mkdirSync(ws);
  writeFileSync(join(ws, 'deploy.sh'), '#!/bin/sh\necho "deployed ${GITHUB_SHA:-${CI_COMMIT_SHA:-$GIT_COMMIT}} with DB_URL=${DB_URL:-none}" >> "$DEPLOY_LOG"\n');
  chmodSync(join(ws, 'deploy.sh'), 0o755);
  const prefix = join(dir, 'npm-global');
  return {
    dir: ws,
    log: join(dir, 'deployed'),
    prefix,
    env: {
      PATH: `${bin}:${join(prefix, 'bin')}:${process.env.PATH}`,
      HOME: dir,
      FAKE_NPM_PREFIX: prefix,
      NODE_MODULES: join(ROOT, 'node_modules'),
      DEPLOY_LOG: join(dir, 'deployed'),
    },
  };
}

// Stands in for `npm install -g [--prefix P] URL`: fetches the package tarball from that URL as
// npm would, unpacks it, links the dependencies and puts its bin on the prefix's bin.
const NPM = `#!/bin/bash
set -euo pipefail
[ "$1" = install ] || { echo "fake npm: only install" >&2; exit 64; }
shift
prefix="$FAKE_NPM_PREFIX"; url=""
while [ $# -gt 0 ]; do case "$1" in -g) ;; --prefix) prefix="$2"; shift ;; *) url="$1" ;; esac; shift; done
dir="$prefix/lib/node_modules/ajar"
mkdir -p "$dir" "$prefix/bin"
curl -fsS "$url" | tar xz -C "$dir" --strip-components=1
test -f "$dir/npm-shrinkwrap.json"
ln -sfn "$NODE_MODULES" "$dir/node_modules"
bin=$(node -p "require('$dir/package.json').bin.ajar")
chmod +x "$dir/$bin"
ln -sf "$dir/$bin" "$prefix/bin/ajar"
echo "$url" >> "$prefix/installed-from"
`;

function runScripts(scripts: Script[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  return (async () => {
    let out = { code: 0, stdout: '', stderr: '' };
    for (const s of scripts) {
      // The server under test, wherever the snippet says Ajar is.
      const r = await spawnScript(s.shell, s.text, { ...env, ...s.env, AJAR_URL: a.url }, cwd);
      out = { code: r.code, stdout: out.stdout + r.stdout, stderr: out.stderr + r.stderr };
      if (r.code !== 0) break;
    }
    return out;
  })();
}

function spawnScript(shell: string[], text: string, env: Record<string, string>, cwd: string): Promise<CliResult> {
  return new Promise((ok) => {
    const child = spawn(shell[0]!, [...shell.slice(1), text], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => ok({ code: code ?? 1, stdout, stderr }));
  });
}

/** What a lead does while the job waits: approve (or deny) the request it filed. */
async function decide(requester: string, artifact: string, decision: 'approve' | 'deny' = 'approve'): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const r = (await a.json(['requests', '--review'], { as: 'bob' })).find((x: any) => x.requester === requester && x.artifact === artifact);
    if (r) {
      await a.json(decision === 'approve' ? ['approve', r.id] : ['deny', r.id, '--reason', 'not today'], { as: 'bob' });
      return r;
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`no request from ${requester} for ${artifact}`);
}

const sha = (c: string) => c.repeat(40);
const github = (commit: string) => ({ GITHUB_ACTIONS: 'true', GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/payments', GITHUB_RUN_ID: '7001', GITHUB_ACTOR: 'alice', GITHUB_SHA: commit, GITHUB_WORKFLOW: 'deploy', GITHUB_REF: 'refs/heads/main' });
const gitlab = (commit: string) => ({ GITLAB_CI: 'true', CI_JOB_URL: 'https://gitlab.com/acme/payments/-/jobs/88', CI_PIPELINE_URL: 'https://gitlab.com/acme/payments/-/pipelines/9', GITLAB_USER_LOGIN: 'carol', CI_COMMIT_SHA: commit, CI_JOB_NAME: 'deploy', CI_PROJECT_PATH: 'acme/payments' });

async function gateEvents(requester: string, commit: string) {
  return (await a.json(['audit', '--local', '--user', requester])).filter((e: any) => e.details?.artifact === commit);
}

describe('docs/ci snippets', () => {
  it('GitHub Actions with the deployer token: installs the CLI from Ajar, waits for the lead, deploys the run\'s commit', async () => {
    const w = workspace();
    const commit = sha('1');
    const token = await a.token('deployer');
    const job = runScripts(githubScripts(snippet('github'), { AJAR_DEPLOYER_TOKEN: token }), { ...w.env, ...github(commit) }, w.dir);
    const req = await decide('deployer', commit);
    const r = await job;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(w.log, 'utf8')).toBe(`deployed ${commit} with DB_URL=none\n`);
    expect(readFileSync(join(w.prefix, 'installed-from'), 'utf8')).toBe(`${a.url}/cli/ajar.tgz\n`);
    expect(req.reason).toBe(`GitHub Actions deploy https://github.com/acme/payments/actions/runs/7001 by alice commit ${commit}`);
    const checked = (await gateEvents('deployer', commit)).filter((e: any) => e.type === 'access.checked' && e.outcome === 'allow');
    expect(checked[0]).toMatchObject({ requestId: req.id, details: { pipeline: { system: 'github', runUrl: 'https://github.com/acme/payments/actions/runs/7001', actor: 'alice', commit } } });
  });

  it('GitLab CI with the deployer token', async () => {
    const w = workspace();
    const commit = sha('2');
    const { script } = gitlabScripts(snippet('gitlab'));
    const job = runScripts([script], { ...w.env, ...gitlab(commit), AJAR_TOKEN: await a.token('deployer') }, w.dir);
    const req = await decide('deployer', commit);
    const r = await job;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(w.log, 'utf8')).toBe(`deployed ${commit} with DB_URL=none\n`);
    expect(req.reason).toContain('GitLab CI deploy https://gitlab.com/acme/payments/-/jobs/88 by carol');
  });

  it('Jenkins: the CLI in the workspace, the secrets and the deploy in one sh block, and no secret in the -x log', async () => {
    const w = workspace();
    const commit = sha('3');
    const scripts = jenkinsScripts(snippet('jenkins'), { 'ajar-deployer-token': await a.token('deployer') });
    expect(scripts).toHaveLength(1);
    const env = { ...w.env, JENKINS_URL: 'https://jenkins.example/', BUILD_URL: 'https://jenkins.example/job/payments/12/', GIT_COMMIT: commit, JOB_NAME: 'payments', WORKSPACE: w.dir };
    const job = runScripts(scripts, env, w.dir);
    const req = await decide('deployer', commit);
    const r = await job;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(w.log, 'utf8')).toBe(`deployed ${commit} with DB_URL=${SECRET}\n`);
    expect(existsSync(join(w.dir, '.ajar-cli', 'bin', 'ajar'))).toBe(true);
    expect(req.actions).toEqual(['deploy', 'read-secrets']);
    expect(req.reason).toBe(`Jenkins payments https://jenkins.example/job/payments/12/ commit ${commit}`);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("GitHub Actions with the job's OIDC token (id-token: write): a workload, its secrets, and no secret in the log but the mask", async () => {
    const w = workspace();
    const commit = sha('4');
    const yaml = snippet('github-oidc');
    expect(parse(yaml).jobs.deploy.permissions['id-token']).toBe('write');
    githubClaims = { repository: 'acme/payments', ref: 'refs/heads/main', sha: commit, workflow: 'deploy' };
    const env = { ...w.env, ...github(commit), ACTIONS_ID_TOKEN_REQUEST_URL: `${base}/gh/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-request-token' };
    const job = runScripts(githubScripts(yaml, {}), env, w.dir);
    const req = await decide('payments-main', commit);
    const r = await job;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(w.log, 'utf8')).toBe(`deployed ${commit} with DB_URL=${SECRET}\n`);
    expect(r.stderr).toContain('the CI token was exchanged for a session of workload payments-main');
    // The only place the value appears is the mask request the runner consumes.
    expect((r.stdout + r.stderr).replaceAll(`::add-mask::${SECRET}`, '')).not.toContain(SECRET);
    expect(req.requester).toBe('payments-main');
  });

  it("GitLab CI with id_tokens: the job's token in AJAR_TOKEN", async () => {
    const w = workspace();
    const commit = sha('5');
    const { script, idTokens } = gitlabScripts(snippet('gitlab-oidc'));
    const jwt = await sign(glIssuer(), idTokens.AJAR_TOKEN!.aud, { project_path: 'acme/payments', ref: 'main', sha: commit, namespace_path: 'acme' });
    const job = runScripts([script], { ...w.env, ...gitlab(commit), AJAR_TOKEN: jwt }, w.dir);
    const req = await decide('payments-gitlab', commit);
    const r = await job;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(w.log, 'utf8')).toBe(`deployed ${commit} with DB_URL=${SECRET}\n`);
    expect(req.artifact).toBe(commit);
  });

  it('a denied gate fails the step before the deploy, secrets or not', async () => {
    const w = workspace();
    const commit = sha('6');
    githubClaims = { repository: 'acme/payments', ref: 'refs/heads/main', sha: commit, workflow: 'deploy' };
    const env = { ...w.env, ...github(commit), ACTIONS_ID_TOKEN_REQUEST_URL: `${base}/gh/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-request-token' };
    const job = runScripts(githubScripts(snippet('github-oidc'), {}), env, w.dir);
    await decide('payments-main', commit, 'deny');
    const r = await job;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('was denied: not today');
    expect(existsSync(w.log)).toBe(false);
  });
});

#!/usr/bin/env node
// The pre-receive hook: the authority on what a push may change. Git runs it
// with one line per updated ref ("old new ref") after the objects arrived and
// before any ref moves; it classifies each update (create, fast-forward, force,
// delete, tag create/move), resolves symbolic refs, and asks Ajar. Anything
// short of a clear "allow" refuses the whole push: fail closed.
//
// Two ways to reach Ajar:
//   - Ajar's own gateway and SSH command put AJAR_HOOK_URL and AJAR_PUSH_SESSION
//     in the environment (the pusher never sees the session);
//   - hook mode (`ajar install-hook git`) passes --url, --token-file (a hook
//     account's token), --user-var (where the host names the pusher) and --repo.
// Kept free of heavy imports: it starts once per push.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import { classifyPush, type PushUpdate } from '../domain/git-push.js';

type Update = PushUpdate;

class Refusal extends Error {}

function git(args: string[]): { code: number; out: string } {
  const r = spawnSync('git', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, out: r.stdout ?? '' };
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    if (!k.startsWith('--') || argv[i + 1] === undefined) throw new Refusal(`the hook was installed with bad arguments (${k}); reinstall it with ajar install-hook`);
    out[k.slice(2)] = argv[i + 1]!;
  }
  return out;
}

/** Read the updates git gives on standard input, and classify them. */
function readUpdates(input: string): Update[] {
  // Every ref of the repository with where symbolic ones point.
  const list = git(['for-each-ref', '--format=%(refname)%00%(symref)']);
  if (list.code !== 0) throw new Refusal('cannot list the refs of the repository');
  const refs = list.out
    .split('\n')
    .filter((l) => l)
    .map((l) => {
      const [name, symref] = l.split('\0') as [string, string];
      return { name, symref: symref ?? '' };
    });
  const updates = classifyPush({
    lines: input.split('\n'),
    refs,
    fastForward: (oldOid, newOid) => {
      const r = git(['merge-base', '--is-ancestor', oldOid, newOid]);
      return r.code === 0 ? true : r.code === 1 ? false : undefined;
    },
  });
  if (typeof updates === 'string') throw new Refusal(updates);
  return updates;
}

/** POST JSON with node:http(s): fetch() would cost ~100 ms of loading and exiting per push. */
function post(url: string, auth: string, body: unknown): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const data = Buffer.from(JSON.stringify(body));
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((ok, fail) => {
    const req = send(
      u,
      { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json', 'content-length': data.length }, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', fail);
    req.end(data);
  });
}

async function ask(url: string, auth: string, body: unknown): Promise<{ allow: boolean; lines: string[] }> {
  let res: { status: number; text: string };
  try {
    res = await post(`${url.replace(/\/+$/, '')}/v1/git/push`, auth, body);
  } catch (e) {
    throw new Refusal(`cannot reach Ajar at ${url} (${(e as Error).message})`);
  }
  let j: { allow?: unknown; lines?: unknown; error?: { message?: unknown } };
  try {
    j = JSON.parse(res.text);
  } catch {
    throw new Refusal(`Ajar answered HTTP ${res.status} with something that is not JSON`);
  }
  if (res.status < 200 || res.status > 299) throw new Refusal(`Ajar refused the question (HTTP ${res.status}: ${String(j.error?.message ?? 'no message')})`);
  if (typeof j.allow !== 'boolean' || !Array.isArray(j.lines)) throw new Refusal('Ajar gave an answer the hook cannot read');
  return { allow: j.allow, lines: j.lines.map(String) };
}

/**
 * The hook that ran here before Ajar: in gateway mode the repository's own
 * hooks/pre-receive (Ajar's come through core.hooksPath); in hook mode the one
 * `ajar install-hook` moved aside.
 */
function ownHook(hookMode: boolean): string | undefined {
  const own = hookMode
    ? resolve(git(['rev-parse', '--git-path', 'hooks/pre-receive.before-ajar']).out.trim() || 'hooks/pre-receive.before-ajar')
    : resolve(process.env.GIT_DIR ?? '.', 'hooks', 'pre-receive');
  try {
    accessSync(own, constants.X_OK);
    return own;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const input = readFileSync(0, 'utf8');
  const args = parseArgs(process.argv.slice(2));
  let url: string;
  let auth: string;
  let body: Record<string, unknown>;
  const updates = readUpdates(input);
  if (args.url) {
    // Hook mode: a server Ajar does not run tells us who pushes.
    const userVar = args['user-var'] ?? 'REMOTE_USER';
    const user = process.env[userVar];
    if (!user) throw new Refusal(`cannot tell who is pushing: ${userVar} is not set by the git server`);
    if (!args.repo) throw new Refusal('the hook does not know the repository name; reinstall it with ajar install-hook --repo');
    let token: string;
    try {
      token = readFileSync(args['token-file'] ?? '', 'utf8').trim();
    } catch {
      throw new Refusal('cannot read the hook account token file');
    }
    url = args.url;
    auth = token;
    body = { repo: args.repo, user, updates };
  } else {
    const hookUrl = process.env.AJAR_HOOK_URL;
    const session = process.env.AJAR_PUSH_SESSION;
    const repo = process.env.AJAR_GIT_REPO;
    if (!hookUrl || !session || !repo) throw new Refusal('this push did not come through Ajar (no session); push through the Ajar gateway');
    url = hookUrl;
    auth = session;
    body = { repo, updates };
  }
  const answer = await ask(url, auth, body);
  for (const l of answer.lines) process.stderr.write(`ajar: ${l}\n`);
  if (!answer.allow) return 1;
  const own = ownHook(args.url !== undefined);
  if (own) {
    // Without the push session: a repository's hook is not Ajar's to trust with it.
    const env = { ...process.env };
    for (const k of ['AJAR_PUSH_SESSION', 'AJAR_HOOK_URL', 'AJAR_GIT_REPO']) delete env[k];
    const r = spawnSync(own, [], { input, env, stdio: ['pipe', 'inherit', 'inherit'] });
    return r.status ?? 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    const why = e instanceof Refusal ? e.message : `unexpected error (${(e as Error).message})`;
    process.stderr.write(`ajar: ${why}\najar: the push is refused (Ajar fails closed)\n`);
    process.exit(1);
  },
);

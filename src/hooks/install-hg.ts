// Hook mode for Mercurial: `ajar install-hook hg REPO_PATH` adds Ajar's
// pretxnclose and prepushkey hooks to the repository's .hg/hgrc (hgweb under Apache/nginx,
// Heptapod, RhodeCode/Kallithea). The hook asks a remote Ajar over HTTP as a
// hook account and names the pusher from the server's variable. The block is
// Ajar's own, between markers, so installing again replaces it.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HG_HOOK_MODULE } from '../gateway/hg/hgweb-worker.js';

const BEGIN = '# >>> ajar (installed by ajar install-hook hg; do not edit inside)';
const END = '# <<< ajar';

export interface InstallHgHook {
  repoPath: string;
  url: string;
  tokenFile: string;
  userVar: string;
  repo: string;
}

export function installHgHook(o: InstallHgHook): { hgrc: string; replaced: boolean } {
  const hgDir = join(o.repoPath, '.hg');
  if (!existsSync(hgDir) || !statSync(hgDir).isDirectory()) throw new Error(`${o.repoPath} is not a Mercurial repository (no .hg)`);
  if (!/^https?:\/\/[^\s/]+/.test(o.url)) throw new Error(`--url ${o.url}: give the Ajar server's URL, e.g. https://ajar.example.com`);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.userVar)) throw new Error(`--user-var ${o.userVar}: not an environment variable name`);
  if (!existsSync(o.tokenFile)) throw new Error(`--token-file ${o.tokenFile} does not exist; put a hook account's token there (ajar token create --user ACCOUNT)`);
  for (const v of [o.url, o.tokenFile, o.repo]) if (/[\r\n]/.test(v)) throw new Error('values may not hold line breaks');
  const hgrc = join(hgDir, 'hgrc');
  const before = existsSync(hgrc) ? readFileSync(hgrc, 'utf8') : '';
  const block = [
    BEGIN,
    '[hooks]',
    `pretxnclose.ajar = python:${HG_HOOK_MODULE}:pretxnclose`,
    `prepushkey.ajar = python:${HG_HOOK_MODULE}:prepushkey`,
    '[ajar]',
    `url = ${o.url}`,
    `token_file = ${resolve(o.tokenFile)}`,
    `user_var = ${o.userVar}`,
    `repo = ${o.repo}`,
    END,
  ].join('\n');
  const start = before.indexOf(BEGIN);
  const end = before.indexOf(END);
  const replaced = start !== -1 && end > start;
  // Last in the file, so its [hooks] entry is the one that counts.
  const rest = replaced ? before.slice(0, start) + before.slice(end + END.length + 1) : before;
  writeFileSync(hgrc, `${rest}${rest && !rest.endsWith('\n') ? '\n' : ''}${block}\n`);
  return { hgrc, replaced };
}

// Mercurial facts Ajar decides on: which wire-protocol commands read and which
// write, how a batch hides commands, and how branches and bookmarks are named
// as resources. Pure.
import type { Resource } from './resource.js';

/** Commands that only read (DESIGN: `read` is per repository). Anything else counts as a write. */
export const HG_READ_COMMANDS = new Set([
  'capabilities',
  'batch',
  'between',
  'branchmap',
  'branches',
  'changegroup',
  'changegroupsubset',
  'clonebundles',
  'clonebundles_manifest',
  'getbundle',
  'heads',
  'hello',
  'known',
  'listkeys',
  'lookup',
  'protocaps',
  'stream_out',
]);

export interface HgArgs {
  /** the query string, as raw `name=value` pairs in order */
  query: [string, string][];
  /** X-HgArg-1, X-HgArg-2, ... joined, when there is no X-HgArgs-Post */
  headerArgs: string;
  /** the first X-HgArgs-Post bytes of the body, when that header is set */
  postArgs: string | undefined;
}

/**
 * A query string or form body as Mercurial parses it (Python's parse_qsl): split at
 * `&`, empty parts skipped, name and value split at the first `=`, `+` is a space,
 * `%XX` one byte, any other `%` left as it is. Bytes are kept as latin-1 characters
 * (Mercurial refuses anything that does not decode to ASCII, so names never differ).
 */
export function parseForm(text: string): [string, string][] {
  const unquote = (s: string) => s.replace(/\+/g, ' ').replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  const out: [string, string][] = [];
  for (const part of text.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    out.push(i === -1 ? [unquote(part), ''] : [unquote(part.slice(0, i)), unquote(part.slice(i + 1))]);
  }
  return out;
}

export type HgCommand = { ok: true; cmd: string; commands: string[]; write: boolean } | { ok: false; message: string };

/**
 * The command of a request and every command it would run, taken as Mercurial
 * takes them: `cmd` from the query string; arguments from the query, replaced
 * by those of the X-HgArgs-Post body if it has one, else by those of the
 * X-HgArg-N headers (each argument's first value counts). A `batch` is split and
 * each of its commands counted. Anything ambiguous is refused rather than guessed.
 */
export function classifyHgRequest(queryString: string, args: Omit<HgArgs, 'query'>): HgCommand {
  const query = parseForm(queryString);
  const cmds = query.filter(([k]) => k === 'cmd');
  if (cmds.length !== 1) return { ok: false, message: cmds.length ? 'cmd is given more than once' : 'not a Mercurial wire-protocol request (no cmd)' };
  const cmd = cmds[0]![1];
  const extra = parseForm(args.postArgs ?? args.headerArgs);
  // `cmd` hidden in the other argument sources would mean something else to someone.
  if (extra.some(([k]) => k === 'cmd')) return { ok: false, message: 'cmd may only be given in the query string' };
  const commands = [cmd];
  if (cmd === 'batch') {
    const all = new Map<string, string>();
    for (const [k, v] of query) if (!all.has(k)) all.set(k, v);
    const override = new Map<string, string>();
    for (const [k, v] of extra) if (!override.has(k)) override.set(k, v);
    for (const [k, v] of override) all.set(k, v);
    const batch = all.get('cmds');
    if (batch === undefined) return { ok: false, message: 'batch without cmds' };
    for (const pair of batch.split(';')) {
      const space = pair.indexOf(' ');
      commands.push(space === -1 ? pair : pair.slice(0, space));
    }
  }
  return { ok: true, cmd, commands, write: commands.some((c) => !HG_READ_COMMANDS.has(c)) };
}

/** A named branch as a resource: `hg:payments:stable`. */
export function branchResource(repo: string, branch: string): Resource {
  return { kind: 'hg', name: repo, scope: branch };
}

/** A bookmark as a resource: `hg:payments:@feature-x`. */
export function bookmarkResource(repo: string, bookmark: string): Resource {
  return { kind: 'hg', name: repo, scope: `@${bookmark}` };
}

/** Why a branch or bookmark name cannot be a resource scope (so no grant can cover it). */
export function hgNameProblem(name: string, what: 'branch' | 'bookmark'): string | undefined {
  if (name.length === 0 || name.length > 200) return `the ${what} name is empty or too long`;
  if (/[\s:~^?[\\\x00-\x1f\x7f]/.test(name) || name.includes('..') || name.startsWith('/') || name.endsWith('/')) {
    return `the ${what} name "${name.slice(0, 80)}" cannot be granted by Ajar (no spaces, ":", "..", "~^?[\\")`;
  }
  if (what === 'branch' && name.startsWith('@')) return `the branch name "${name.slice(0, 80)}" starts with "@", which Ajar reads as a bookmark`;
  return undefined;
}

// The policy in its own file: a config names it with `policy_file:`, and the
// policy names its on-call schedule with `oncall_file:`, each relative to the
// file that names it. `ajar policy simulate` sends the files a new config or
// policy names along with it, so the server loads them without reading its own
// disk at a path an API caller chose.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

/** Reads a file another file names; throws like readFileSync (with an errno `code`). */
export type ReadFile = (path: string) => string;

export const readText: ReadFile = (path) => readFileSync(path, 'utf8');

/** A reader over files sent along (by absolute path); anything else is "not sent". */
export function readFrom(files: Record<string, string>): ReadFile {
  return (path) => {
    const text = Object.hasOwn(files, path) ? files[path] : undefined;
    if (text === undefined) throw Object.assign(new Error(`${path} was not sent`), { code: 'ENOENT' });
    return text;
  };
}

/** Keys only a config has: a document with any of them is a config, not a policy. */
const CONFIG_KEYS = ['server', 'admins', 'groups', 'users', 'service_accounts', 'resources', 'policy', 'policy_file', 'workers'];

/** Is this parsed YAML a policy file (what `policy:` holds: rules, automatic, ...) rather than a config? */
export function isPolicyDocument(raw: unknown): boolean {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return false;
  const keys = Object.keys(raw);
  return (keys.includes('rules') || keys.includes('automatic')) && !keys.some((k) => CONFIG_KEYS.includes(k));
}

export function isPolicyText(text: string): boolean {
  return isPolicyDocument(parseLeniently(text));
}

function parseLeniently(text: string): unknown {
  try {
    return parse(text);
  } catch {
    return undefined; // the loader reports the syntax error with its line
  }
}

/**
 * The files a config or policy file names (its policy file, the policy's on-call
 * schedule), by absolute path, read with the same rules the loader follows. A
 * file that cannot be read is left out: loading then says which and why.
 */
export function referencedFiles(file: string, read: ReadFile = readText): Record<string, string> {
  const out: Record<string, string> = {};
  const tryRead = (path: string) => {
    try {
      out[path] = read(path);
      return out[path];
    } catch {
      return undefined;
    }
  };
  const top = parseLeniently(tryRead(resolve(file)) ?? '') as Record<string, unknown> | undefined;
  delete out[resolve(file)]; // the file itself travels as the request's text
  let policy: unknown = isPolicyDocument(top) ? top : top?.policy;
  let policyDir = dirname(resolve(file));
  if (typeof top?.policy_file === 'string') {
    const path = resolve(policyDir, top.policy_file);
    policy = parseLeniently(tryRead(path) ?? '');
    policyDir = dirname(path);
  }
  const oncall = (policy as { oncall_file?: unknown } | undefined)?.oncall_file;
  if (typeof oncall === 'string') tryRead(resolve(policyDir, oncall));
  return out;
}

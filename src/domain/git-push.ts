// What a push changes, from the facts a pre-receive hook can see: git's update
// lines ("old new ref"), the repository's refs with where symbolic ones point,
// and whether each old..new is a fast-forward. Pure: the Node hook gathers the
// facts itself; the gateway's shell hook sends them to the server, which decides
// with this same code.
import { classifyRefUpdate, OID, type RefUpdateKind } from './git.js';

export interface PushUpdate {
  ref: string;
  old: string;
  new: string;
  kind: RefUpdateKind;
  target?: string;
}

export interface PushFacts {
  /** the lines git gave the hook on standard input */
  lines: string[];
  /** every ref of the repository, and the ref it points to when symbolic */
  refs: { name: string; symref: string }[];
  /** "old new" → is old an ancestor of new (true), not (false), unknown (undefined) */
  fastForward: (oldOid: string, newOid: string) => boolean | undefined;
}

export const isZeroOid = (oid: string) => /^0+$/.test(oid);

/** Classify every update; a string is why the push cannot be read at all. */
export function classifyPush(f: PushFacts): PushUpdate[] | string {
  const lines = f.lines.filter((l) => l.length > 0);
  if (lines.length === 0) return 'git passed no ref updates';
  const symrefs = new Map<string, string>();
  const byFolded = new Map<string, string>();
  for (const { name, symref } of f.refs) {
    if (symref) symrefs.set(name, symref);
    byFolded.set(name.toLowerCase(), name);
  }
  const out: PushUpdate[] = [];
  for (const line of lines) {
    const [oldOid, newOid, ref, ...rest] = line.split(' ');
    if (!oldOid || !newOid || !ref || rest.length > 0 || !OID.test(oldOid) || !OID.test(newOid)) return `cannot read the update "${line.slice(0, 200)}"`;
    let target: string | undefined;
    // A symbolic ref updates what it points to; follow the chain.
    for (let name = ref, hops = 0; symrefs.has(name); hops++) {
      if (hops > 5) return `${ref}: symbolic ref chain is too long`;
      name = symrefs.get(name)!;
      target = name;
    }
    // A new ref differing from an existing one only in case would alias it on a
    // case-insensitive file system: it is checked as that ref too.
    const folded = byFolded.get(ref.toLowerCase());
    if (!target && folded && folded !== ref) target = folded;
    const needsAncestry = !isZeroOid(oldOid) && !isZeroOid(newOid) && !ref.startsWith('refs/tags/');
    const u: PushUpdate = { ref, old: oldOid, new: newOid, kind: classifyRefUpdate(oldOid, newOid, ref, needsAncestry ? f.fastForward(oldOid, newOid) : undefined) };
    if (target) u.target = target;
    out.push(u);
  }
  return out;
}

/** Does this update need to know whether it is a fast-forward? (what the shell hook asks git) */
export function needsAncestry(line: string): boolean {
  const [oldOid, newOid, ref] = line.split(' ');
  return !!oldOid && !!newOid && !!ref && !isZeroOid(oldOid) && !isZeroOid(newOid) && !ref.startsWith('refs/tags/');
}

/**
 * The facts as the gateway's shell hook sends them, one per line:
 *   repo <name> | update <old> <new> <ref> | ref <name> [<symref>] | ff <old> <new> <exit code of merge-base --is-ancestor>
 * Ref names hold no spaces or control characters (git forbids them), so lines split cleanly.
 */
export function parsePushFacts(text: string): { repo: string; facts: PushFacts } | string {
  let repo: string | undefined;
  const lines: string[] = [];
  const refs: { name: string; symref: string }[] = [];
  const ancestry = new Map<string, boolean | undefined>();
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const [tag, ...f] = raw.split(' ');
    if (tag === 'repo' && f.length === 1 && repo === undefined) repo = f[0];
    else if (tag === 'update' && f.length === 3) lines.push(f.join(' '));
    else if (tag === 'ref' && (f.length === 1 || f.length === 2) && f[0]) refs.push({ name: f[0], symref: f[1] ?? '' });
    else if (tag === 'ff' && f.length === 3 && OID.test(f[0]!) && OID.test(f[1]!) && /^\d{1,3}$/.test(f[2]!)) {
      ancestry.set(`${f[0]} ${f[1]}`, f[2] === '0' ? true : f[2] === '1' ? false : undefined);
    } else return `cannot read the hook's line "${raw.slice(0, 120)}"`;
  }
  if (!repo) return 'the hook named no repository';
  // A fast-forward the hook did not establish is unknown, which classifies as a force push: never more than asked.
  return { repo, facts: { lines, refs, fastForward: (o, n) => ancestry.get(`${o} ${n}`) } };
}

// The one place that turns a repository name from a URL or an SSH command into
// a directory under the served root. Symbolic links are not followed out of (or
// anywhere under) the root: the real path must be exactly the expected one.
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoNameProblem } from '../domain/git.js';

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** `<root>/<name>.git` (Git, bare) or `<root>/<name>` (Mercurial), or undefined when there is none. */
export function servedRepoDir(kind: 'git' | 'hg', root: string, name: string): string | undefined {
  if (repoNameProblem(name)) return undefined;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return undefined;
  }
  const want = join(realRoot, kind === 'git' ? `${name}.git` : name);
  try {
    if (realpathSync(want) !== want) return undefined;
  } catch {
    return undefined;
  }
  const ok = kind === 'git' ? isDir(join(want, 'objects')) && statSync(join(want, 'HEAD'), { throwIfNoEntry: false })?.isFile() === true : isDir(join(want, '.hg'));
  return ok ? want : undefined;
}

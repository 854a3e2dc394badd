import { describe, expect, it } from 'vitest';
import { classifyRefUpdate, KIND_ACTION, refProblem, repoNameProblem } from './git.js';

const Z = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

describe('classifyRefUpdate', () => {
  it('names what each update does, and the action it needs', () => {
    const k = (o: string, n: string, ref: string, ff?: boolean) => {
      const kind = classifyRefUpdate(o, n, ref, ff);
      return [kind, KIND_ACTION[kind]];
    };
    expect(k(Z, A, 'refs/heads/main')).toEqual(['create', 'push']);
    expect(k(A, B, 'refs/heads/main', true)).toEqual(['update', 'push']);
    expect(k(A, B, 'refs/heads/main', false)).toEqual(['force', 'force-push']);
    // When ancestry could not be told, it is a force-push.
    expect(k(A, B, 'refs/heads/main', undefined)).toEqual(['force', 'force-push']);
    expect(k(A, Z, 'refs/heads/main')).toEqual(['delete', 'delete']);
    expect(k(Z, A, 'refs/tags/v1')).toEqual(['tag-create', 'tag']);
    expect(k(A, B, 'refs/tags/v1', true)).toEqual(['tag-move', 'force-push']);
    expect(k(A, Z, 'refs/tags/v1')).toEqual(['delete', 'delete']);
    expect(k('0'.repeat(64), 'c'.repeat(64), 'refs/heads/sha256')).toEqual(['create', 'push']);
  });
});

describe('refProblem', () => {
  it('accepts full ref names and refuses what git refuses, plus a branch called HEAD', () => {
    for (const ok of ['refs/heads/main', 'refs/heads/release/2.4', 'refs/tags/v1.0', 'refs/notes/commits', 'refs/heads/x;y']) expect(refProblem(ok), ok).toBeUndefined();
    for (const bad of ['main', 'HEAD', 'refs/heads/HEAD', 'refs/heads/a..b', 'refs/heads/a b', 'refs/heads/a~1', 'refs/heads/a^', 'refs/heads/a:b', 'refs/heads/a*', 'refs/heads/a[', 'refs/heads/a\\b', 'refs/heads/.hidden', 'refs/heads/x.lock', 'refs/heads/x/', 'refs/heads//x', 'refs/heads/x.', 'refs/heads/@{x}', 'refs/heads/a\u0001']) {
      expect(refProblem(bad), bad).toBeDefined();
    }
  });
});

describe('repoNameProblem', () => {
  it('accepts plain nested names and nothing that could leave the root or read as an option', () => {
    for (const ok of ['payments', 'platform/api', 'a_b-c.d']) expect(repoNameProblem(ok), ok).toBeUndefined();
    for (const bad of ['', '..', 'a/../b', '-x', '.x', 'a/.x', 'a//b', '/a', 'a/', 'a.git/b', 'a b', 'a%2e']) expect(repoNameProblem(bad), bad).toBeDefined();
  });
});

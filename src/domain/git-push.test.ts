import { describe, expect, it } from 'vitest';
import { classifyPush, needsAncestry, parsePushFacts } from './git-push.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const Z = '0'.repeat(40);

describe('classifyPush', () => {
  const refs = [
    { name: 'refs/heads/main', symref: '' },
    { name: 'refs/heads/alias', symref: 'refs/heads/main' },
    { name: 'refs/heads/loop1', symref: 'refs/heads/loop2' },
    { name: 'refs/heads/loop2', symref: 'refs/heads/loop1' },
  ];
  const ff = (o: string, n: string) => (o === A && n === B ? true : undefined);

  it('classifies each update, follows symbolic refs and catches case aliases', () => {
    const u = classifyPush({ lines: [`${A} ${B} refs/heads/main`, `${B} ${A} refs/heads/alias`, `${Z} ${A} refs/heads/MAIN`, `${A} ${Z} refs/heads/old`, `${Z} ${A} refs/tags/v1`, `${A} ${B} refs/tags/v1`, ''], refs, fastForward: ff });
    expect(u).toEqual([
      { ref: 'refs/heads/main', old: A, new: B, kind: 'update' },
      { ref: 'refs/heads/alias', old: B, new: A, kind: 'force', target: 'refs/heads/main' },
      { ref: 'refs/heads/MAIN', old: Z, new: A, kind: 'create', target: 'refs/heads/main' },
      { ref: 'refs/heads/old', old: A, new: Z, kind: 'delete' },
      { ref: 'refs/tags/v1', old: Z, new: A, kind: 'tag-create' },
      { ref: 'refs/tags/v1', old: A, new: B, kind: 'tag-move' },
    ]);
  });

  it('an ancestry nobody established is a force push; unreadable input refuses the push', () => {
    expect(classifyPush({ lines: [`${A} ${B} refs/heads/x`], refs: [], fastForward: () => undefined })).toEqual([{ ref: 'refs/heads/x', old: A, new: B, kind: 'force' }]);
    expect(classifyPush({ lines: [], refs, fastForward: ff })).toBe('git passed no ref updates');
    expect(classifyPush({ lines: [`${A} ${B} refs/heads/x extra`], refs, fastForward: ff })).toContain('cannot read the update');
    expect(classifyPush({ lines: [`${A} nothex refs/heads/x`], refs, fastForward: ff })).toContain('cannot read the update');
    expect(classifyPush({ lines: [`${A} ${B} refs/heads/loop1`], refs, fastForward: ff })).toBe('refs/heads/loop1: symbolic ref chain is too long');
  });

  it('asks git about ancestry only where it matters', () => {
    expect(needsAncestry(`${A} ${B} refs/heads/x`)).toBe(true);
    expect(needsAncestry(`${Z} ${B} refs/heads/x`)).toBe(false);
    expect(needsAncestry(`${A} ${Z} refs/heads/x`)).toBe(false);
    expect(needsAncestry(`${A} ${B} refs/tags/x`)).toBe(false);
  });
});

describe('parsePushFacts (what the shell hook sends)', () => {
  it('reads updates, refs with their targets and fast-forward answers', () => {
    const p = parsePushFacts(`repo payments\nupdate ${A} ${B} refs/heads/main\nupdate ${A} ${B} refs/heads/side\nff ${A} ${B} 0\nref refs/heads/main\nref HEAD refs/heads/main\n`);
    if (typeof p === 'string') throw new Error(p);
    expect(p.repo).toBe('payments');
    expect(p.facts.lines).toEqual([`${A} ${B} refs/heads/main`, `${A} ${B} refs/heads/side`]);
    expect(p.facts.refs).toEqual([{ name: 'refs/heads/main', symref: '' }, { name: 'HEAD', symref: 'refs/heads/main' }]);
    expect(p.facts.fastForward(A, B)).toBe(true);
    expect(p.facts.fastForward(B, A)).toBeUndefined();
    const notFf = parsePushFacts(`repo r\nupdate ${A} ${B} refs/heads/x\nff ${A} ${B} 1\n`);
    if (typeof notFf === 'string') throw new Error(notFf);
    expect(classifyPush(notFf.facts)).toEqual([{ ref: 'refs/heads/x', old: A, new: B, kind: 'force' }]);
  });

  it('refuses anything it cannot read, and a second repository line', () => {
    expect(parsePushFacts(`update ${A} ${B} refs/heads/x\n`)).toBe('the hook named no repository');
    expect(parsePushFacts(`repo a\nrepo b\n`)).toContain('cannot read');
    expect(parsePushFacts(`repo a\nff ${A} ${B} yes\n`)).toContain('cannot read');
    expect(parsePushFacts(`repo a\nff ${A} short 0\n`)).toContain('cannot read');
    expect(parsePushFacts(`repo a\nupdate ${A} ${B}\n`)).toContain('cannot read');
    expect(parsePushFacts(`repo a\nref a b c\n`)).toContain('cannot read');
    expect(parsePushFacts(`repo a\nHEAD ${A}\n`)).toContain('cannot read');
  });
});

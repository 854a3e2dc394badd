import { describe, expect, it } from 'vitest';
import { canonicalResource, parseResource, type Resource, resourceCovers, resourceMatches, resourceOverlaps, validateAction } from './resource.js';

const r = (text: string): Resource => {
  const p = parseResource(text);
  if (!p.ok) throw new Error(p.error);
  return p.value;
};

describe('parseResource', () => {
  it('reads kind, name and scope', () => {
    expect(r('git:platform/api:release/**')).toEqual({ kind: 'git', name: 'platform/api', scope: 'release/**' });
    expect(r('hg:billing:@feature-x')).toEqual({ kind: 'hg', name: 'billing', scope: '@feature-x' });
    expect(r('ssh:web-prod')).toEqual({ kind: 'ssh', name: 'web-prod', scope: undefined });
  });

  it('refuses malformed resources with a message saying what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['svn:repo', /unknown kind "svn"/],
      ['git:a:b:c', /too many ":"/],
      ['env:payments', /needs an environment/],
      ['ssh:web:prod', /no scope/],
      ['git:/abs', /invalid name/],
      ['git:a b', /invalid name/],
      ['git:repo:a..b', /invalid scope/],
      ['git:repo:bad~ref', /invalid scope/],
    ];
    for (const [text, msg] of cases) {
      const p = parseResource(text);
      expect(p.ok, text).toBe(false);
      if (!p.ok) expect(p.error, text).toMatch(msg);
    }
  });
});

describe('matching', () => {
  it('a Git branch is short for refs/heads/<branch>', () => {
    expect(resourceMatches(r('git:payments:main'), r('git:payments:refs/heads/main'))).toBe(true);
    expect(resourceMatches(r('git:payments:refs/heads/release/*'), r('git:payments:release/1'))).toBe(true);
    expect(resourceMatches(r('git:payments:main'), r('git:payments:refs/tags/main'))).toBe(false);
    expect(canonicalResource(r('git:payments:refs/heads/main'))).toBe('git:payments:main');
    expect(canonicalResource(r('git:payments:refs/tags/v1'))).toBe('git:payments:refs/tags/v1');
  });

  it('a resource without scope covers every scope of it, and nothing else', () => {
    expect(resourceMatches(r('git:payments'), r('git:payments:anything/at/all'))).toBe(true);
    expect(resourceMatches(r('git:payments'), r('git:payments-old:main'))).toBe(false);
    expect(resourceMatches(r('git:payments'), r('hg:payments'))).toBe(false);
    expect(resourceMatches(r('git:payments:main'), r('git:payments'))).toBe(false);
  });

  it('covers and overlaps', () => {
    expect(resourceCovers(r('git:payments:release/*'), r('git:payments:release/2.*'))).toBe(true);
    expect(resourceCovers(r('git:payments:release/*'), r('git:payments'))).toBe(false);
    expect(resourceCovers(r('git:*'), r('git:payments:main'))).toBe(true);
    expect(resourceOverlaps(r('git:payments'), r('git:payments:feature/x'))).toBe(true);
    expect(resourceOverlaps(r('git:payments:release/*'), r('git:payments:feature/*'))).toBe(false);
    expect(resourceOverlaps(r('env:payments:production'), r('env:payments:staging'))).toBe(false);
  });
});

describe('validateAction', () => {
  it('knows the actions of each kind', () => {
    expect(validateAction(r('git:payments:main'), 'force-push').ok).toBe(true);
    expect(validateAction(r('env:payments:production'), 'deploy').ok).toBe(true);
    expect(validateAction(r('env:payments:production'), 'push').ok).toBe(false);
    expect(validateAction(r('hg:billing:stable'), 'publish').ok).toBe(true);
    expect(validateAction(r('ssh:web'), 'connect').ok).toBe(false);
  });

  it('read is granted per repository, never per branch', () => {
    expect(validateAction(r('git:payments'), 'read').ok).toBe(true);
    const v = validateAction(r('git:payments:main'), 'read');
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.error).toContain('per repository');
    expect(validateAction(r('hg:billing:stable'), 'read').ok).toBe(false);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalResource, formatResource, parseResource, type Resource, resourceCovers, resourceMatches, resourceOverlaps, validateAction } from './resource.js';

const r = (text: string): Resource => {
  const p = parseResource(text);
  if (!p.ok) throw new Error(p.error);
  return p.value;
};

const refused = (text: string): string => {
  const p = parseResource(text);
  if (p.ok) throw new Error(`"${text}" was accepted as ${JSON.stringify(p.value)}`);
  return p.error;
};

describe('parseResource', () => {
  it('reads kind, name and scope', () => {
    expect(r('git:platform/api:release/**')).toEqual({ kind: 'git', name: 'platform/api', scope: 'release/**' });
    expect(r('hg:billing:@feature-x')).toEqual({ kind: 'hg', name: 'billing', scope: '@feature-x' });
    expect(r('env:payments:production')).toEqual({ kind: 'env', name: 'payments', scope: 'production' });
    expect(r('ssh:web-prod')).toEqual({ kind: 'ssh', name: 'web-prod', scope: undefined });
    expect(r('postgres:orders-prod')).toEqual({ kind: 'postgres', name: 'orders-prod', scope: undefined });
  });

  it('refuses an empty resource', () => {
    expect(refused('')).toMatch(/empty/);
  });

  it('refuses an unknown kind and lists the known ones', () => {
    expect(refused('svn:repo')).toBe('resource "svn:repo" has unknown kind "svn"; expected one of git, hg, env, ssh, postgres');
    expect(refused('Git:payments')).toMatch(/unknown kind "Git"/);
    expect(refused('payments')).toMatch(/unknown kind "payments"/);
  });

  it('refuses too many colons', () => {
    expect(refused('git:a:b:c')).toMatch(/too many ":"/);
    expect(refused('env:payments:production:eu')).toMatch(/too many ":"/);
  });

  it('refuses an environment without its scope', () => {
    expect(refused('env:payments')).toBe('resource "env:payments" needs an environment, e.g. env:payments:production');
  });

  it('refuses a scope on ssh and postgres targets', () => {
    expect(refused('ssh:web:prod')).toMatch(/ssh targets have no scope; use ssh:web/);
    expect(refused('postgres:orders:main')).toMatch(/postgres targets have no scope; use postgres:orders/);
  });

  it('refuses bad names', () => {
    for (const text of ['git:', 'git:/abs', 'git:trailing/', 'git:a//b', 'git:a b', 'git:a$b', 'git:a@b', 'git:ü']) {
      expect(refused(text), text).toMatch(/invalid name/);
    }
  });

  it('refuses bad scopes', () => {
    for (const text of ['git:repo:', 'git:repo:a..b', 'git:repo:bad~ref', 'git:repo:a^b', 'git:repo:a?b', 'git:repo:a[b', 'git:repo:a\\b', 'git:repo:a b', 'git:repo:/main', 'git:repo:main/', 'git:repo:a\tb']) {
      expect(refused(text), text).toMatch(/invalid scope/);
    }
  });

  it('refuses three or more stars in a row, which would silently mean **', () => {
    for (const text of ['git:payments:release/***', 'git:pay***:main', 'hg:billing:****']) {
      expect(refused(text), text).toMatch(/"\*\*\*" means nothing/);
    }
    expect(parseResource('git:payments:release/**').ok).toBe(true);
  });

  it('refuses anything longer than 512 characters', () => {
    expect(refused(`git:${'a'.repeat(600)}`)).toMatch(/longer than 512/);
  });

  it('reads back what it formats', () => {
    for (const text of ['git:payments', 'git:payments:release/*', 'hg:billing:stable', 'env:payments:production', 'ssh:web-prod']) {
      expect(formatResource(r(text))).toBe(text);
    }
  });
});

describe('Git branches', () => {
  it('a branch is short for refs/heads/<branch>: git:payments:main is git:payments:refs/heads/main', () => {
    const short = r('git:payments:main');
    const long = r('git:payments:refs/heads/main');
    expect(resourceMatches(short, long)).toBe(true);
    expect(resourceMatches(long, short)).toBe(true);
    expect(resourceCovers(short, long)).toBe(true);
    expect(resourceCovers(long, short)).toBe(true);
    expect(resourceOverlaps(short, long)).toBe(true);
    expect(canonicalResource(long)).toBe('git:payments:main');
    expect(canonicalResource(short)).toBe('git:payments:main');
  });

  it('short and long patterns name the same branches', () => {
    expect(resourceMatches(r('git:payments:refs/heads/release/*'), r('git:payments:release/1'))).toBe(true);
    expect(resourceCovers(r('git:payments:release/*'), r('git:payments:refs/heads/release/2.*'))).toBe(true);
  });

  it('a branch name never matches a tag or another ref of the same name', () => {
    expect(resourceMatches(r('git:payments:main'), r('git:payments:refs/tags/main'))).toBe(false);
    expect(resourceMatches(r('git:payments:**'), r('git:payments:refs/tags/v1'))).toBe(false);
    expect(resourceOverlaps(r('git:payments:v*'), r('git:payments:refs/tags/v*'))).toBe(false);
    expect(canonicalResource(r('git:payments:refs/tags/v1'))).toBe('git:payments:refs/tags/v1');
  });

  it('Mercurial scopes are taken as written', () => {
    expect(resourceMatches(r('hg:billing:stable'), r('hg:billing:refs/heads/stable'))).toBe(false);
    expect(canonicalResource(r('hg:billing:refs/heads/stable'))).toBe('hg:billing:refs/heads/stable');
  });

  it('the canonical text names the same resource when read back', () => {
    // A branch may itself be called refs/tags/v1 (git branch refs/tags/v1 creates
    // refs/heads/refs/tags/v1). Requests and grants store the canonical text, so it
    // must not turn that branch into the tag refs/tags/v1.
    for (const text of ['git:payments:main', 'git:payments:refs/heads/main', 'git:payments:refs/tags/v1', 'git:payments:refs/heads/refs/tags/v1']) {
      const original = r(text);
      const back = r(canonicalResource(original));
      expect(resourceMatches(back, original), `${text} -> ${canonicalResource(original)}`).toBe(true);
      expect(resourceMatches(original, back), `${text} -> ${canonicalResource(original)}`).toBe(true);
    }
  });

  it('the canonical text of any Git ref reads back as the same ref (property)', () => {
    const prefix = fc.constantFrom('', 'refs/', 'refs/heads/', 'refs/tags/');
    const segment = fc.constantFrom('main', 'refs', 'heads', 'tags', 'v1');
    const scope = fc.tuple(prefix, fc.array(segment, { minLength: 1, maxLength: 3 })).map(([p, s]) => p + s.join('/'));
    fc.assert(
      fc.property(scope, (s) => {
        const original = r(`git:payments:${s}`);
        const back = r(canonicalResource(original));
        return resourceMatches(back, original) && resourceMatches(original, back);
      }),
      { numRuns: 500 },
    );
  });
});

describe('matching, covering and overlapping', () => {
  it('a resource without scope covers every scope of it, and nothing else', () => {
    expect(resourceMatches(r('git:payments'), r('git:payments:anything/at/all'))).toBe(true);
    expect(resourceMatches(r('git:payments'), r('git:payments'))).toBe(true);
    expect(resourceMatches(r('env:payments:production'), r('env:payments:production'))).toBe(true);
    expect(resourceMatches(r('git:payments'), r('git:payments-old:main'))).toBe(false);
    expect(resourceMatches(r('git:payments'), r('hg:payments'))).toBe(false);
    expect(resourceMatches(r('git:payments:main'), r('git:payments'))).toBe(false);
  });

  it('resourceCovers: a whole resource covers every scope and pattern in it, a scope never covers the whole', () => {
    expect(resourceCovers(r('git:payments'), r('git:payments:release/**'))).toBe(true);
    expect(resourceCovers(r('git:payments'), r('git:payments'))).toBe(true);
    expect(resourceCovers(r('hg:billing'), r('hg:billing:@feature-x'))).toBe(true);
    expect(resourceCovers(r('git:payments:release/*'), r('git:payments'))).toBe(false);
    expect(resourceCovers(r('git:payments:**'), r('git:payments'))).toBe(false);
  });

  it('resourceCovers: patterns in names and scopes', () => {
    expect(resourceCovers(r('git:payments:release/*'), r('git:payments:release/2.*'))).toBe(true);
    expect(resourceCovers(r('git:payments:release/*'), r('git:payments:release/**'))).toBe(false);
    expect(resourceCovers(r('git:*'), r('git:payments:main'))).toBe(true);
    expect(resourceCovers(r('git:*'), r('git:platform/api'))).toBe(false);
    expect(resourceCovers(r('git:**'), r('git:platform/api'))).toBe(true);
    expect(resourceCovers(r('git:platform/*:main'), r('git:platform/api:main'))).toBe(true);
    expect(resourceCovers(r('env:payments:*'), r('env:payments:production'))).toBe(true);
  });

  it('resourceCovers and resourceOverlaps never cross kinds', () => {
    expect(resourceCovers(r('git:payments'), r('hg:payments'))).toBe(false);
    expect(resourceOverlaps(r('git:payments'), r('hg:payments'))).toBe(false);
    expect(resourceOverlaps(r('ssh:*'), r('postgres:orders'))).toBe(false);
  });

  it('resourceOverlaps: a whole resource overlaps each of its scopes', () => {
    expect(resourceOverlaps(r('git:payments'), r('git:payments:feature/x'))).toBe(true);
    expect(resourceOverlaps(r('git:payments:feature/x'), r('git:payments'))).toBe(true);
    expect(resourceOverlaps(r('git:pay*'), r('git:*ments:main'))).toBe(true);
    expect(resourceOverlaps(r('git:payments'), r('git:billing:main'))).toBe(false);
  });

  it('resourceOverlaps: scopes', () => {
    expect(resourceOverlaps(r('git:payments:release/*'), r('git:payments:*/1'))).toBe(true);
    expect(resourceOverlaps(r('git:payments:release/*'), r('git:payments:feature/*'))).toBe(false);
    expect(resourceOverlaps(r('env:payments:production'), r('env:payments:staging'))).toBe(false);
    expect(resourceOverlaps(r('env:payments:prod*'), r('env:payments:*tion'))).toBe(true);
  });
});

describe('validateAction', () => {
  it('knows the actions of each kind', () => {
    expect(validateAction(r('git:payments:main'), 'push').ok).toBe(true);
    expect(validateAction(r('git:payments:main'), 'force-push').ok).toBe(true);
    expect(validateAction(r('git:payments:refs/tags/v*'), 'tag').ok).toBe(true);
    expect(validateAction(r('hg:billing:stable'), 'publish').ok).toBe(true);
    expect(validateAction(r('hg:billing:@x'), 'rewrite').ok).toBe(true);
    expect(validateAction(r('env:payments:production'), 'deploy').ok).toBe(true);
    expect(validateAction(r('env:payments:production'), 'read-secrets').ok).toBe(true);
    expect(validateAction(r('ssh:web'), 'login').ok).toBe(true);
    expect(validateAction(r('postgres:orders'), 'connect').ok).toBe(true);
  });

  it('refuses an action of another kind and lists the right ones', () => {
    const v = validateAction(r('env:payments:production'), 'push');
    expect(v).toEqual({ ok: false, error: 'action "push" does not apply to env resources; use one of deploy, read-secrets' });
    expect(validateAction(r('git:payments:main'), 'publish').ok).toBe(false);
    expect(validateAction(r('ssh:web'), 'connect').ok).toBe(false);
    expect(validateAction(r('postgres:orders'), 'login').ok).toBe(false);
    expect(validateAction(r('git:payments'), 'PUSH').ok).toBe(false);
  });

  it('read is granted per repository, never per branch', () => {
    expect(validateAction(r('git:payments'), 'read')).toEqual({ ok: true, value: 'read' });
    expect(validateAction(r('hg:billing'), 'read').ok).toBe(true);
    const v = validateAction(r('git:payments:main'), 'read');
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.error).toContain('per repository (git:payments), not per branch');
    expect(validateAction(r('git:payments:**'), 'read').ok).toBe(false);
    expect(validateAction(r('hg:billing:stable'), 'read').ok).toBe(false);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globCovers, globMatch, globOverlaps } from './glob.js';

// Small alphabets make collisions (and so interesting cases) likely.
const alphabet = ['a', 'b', '/', '-'];
const str = fc.array(fc.constantFrom(...alphabet), { maxLength: 7 }).map((a) => a.join(''));
const pattern = fc.array(fc.constantFrom(...alphabet, '*', '**'), { maxLength: 6 }).map((a) => a.join(''));

describe('globMatch', () => {
  it('a single star stays inside one segment, anchored at both ends, case-sensitive', () => {
    expect(globMatch('release/*', 'release/1')).toBe(true);
    expect(globMatch('release/*', 'release/2.0-rc1')).toBe(true);
    for (const s of ['release-x', 'release/1/2', 'Release/1', 'xrelease/1', 'release']) expect(globMatch('release/*', s), s).toBe(false);
  });

  it('a single star may match an empty run', () => {
    expect(globMatch('release/*', 'release/')).toBe(true);
    expect(globMatch('v*', 'v')).toBe(true);
  });

  it('a double star crosses segments', () => {
    expect(globMatch('feature/**', 'feature/a/b/c')).toBe(true);
    expect(globMatch('feature/**', 'feature/a')).toBe(true);
    expect(globMatch('**/fix', 'a/b/fix')).toBe(true);
    expect(globMatch('**', '')).toBe(true);
    expect(globMatch('**', 'a/b/c')).toBe(true);
    expect(globMatch('a/**/b', 'a/x/y/b')).toBe(true);
    expect(globMatch('feature/**', 'features/a')).toBe(false);
  });

  it('a double star is a plain run of characters, so a/**/b needs both slashes', () => {
    // Unlike .gitignore, `**` does not swallow the slash next to it.
    expect(globMatch('a/**/b', 'a//b')).toBe(true);
    expect(globMatch('a/**/b', 'a/b')).toBe(false);
    expect(globMatch('feature/**', 'feature')).toBe(false);
  });

  it('runs of three or more stars behave like a double star', () => {
    expect(globMatch('a/***', 'a/b/c')).toBe(true);
    expect(globMatch('a/****/z', 'a/b/c/z')).toBe(true);
  });

  it('is anchored at both ends', () => {
    expect(globMatch('payments', 'payments')).toBe(true);
    for (const s of ['payments-old', 'old-payments', 'payments/x', 'x/payments']) expect(globMatch('payments', s), s).toBe(false);
    expect(globMatch('a*', 'ba')).toBe(false);
    expect(globMatch('*a', 'ab')).toBe(false);
    expect(globMatch('*a*', 'bab')).toBe(true);
  });

  it('a literal pattern matches exactly itself', () => {
    // `str` draws no `*`, so every drawn string is a literal pattern.
    fc.assert(fc.property(str, str, (a, b) => globMatch(a, b) === (a === b)), { numRuns: 2000 });
    fc.assert(fc.property(str, (a) => globMatch(a, a)));
  });

  it('characters that mean something in regular expressions are literal', () => {
    expect(globMatch('v1.2', 'v1x2')).toBe(false);
    expect(globMatch('a+b', 'aab')).toBe(false);
    expect(globMatch('(x)', '(x)')).toBe(true);
  });
});

describe('globCovers', () => {
  it('is sound: whatever the inner pattern matches, the outer matches too', () => {
    fc.assert(
      fc.property(pattern, pattern, fc.array(str, { minLength: 20, maxLength: 20 }), (outer, inner, samples) => {
        if (!globCovers(outer, inner)) return true;
        return samples.every((s) => !globMatch(inner, s) || globMatch(outer, s));
      }),
      { numRuns: 3000 },
    );
  });

  it('is sound on strings the inner pattern is known to match', () => {
    // Random strings rarely match a pattern with many literals; build ones that do by
    // filling each wildcard of the inner pattern with a random run.
    const filled = fc
      .tuple(pattern, fc.array(str, { minLength: 6, maxLength: 6 }))
      .map(([p, fills]) => {
        let k = 0;
        const s = p.replace(/\*\*+|\*/g, (t) => {
          const fill = fills[k++ % fills.length]!;
          return t === '*' ? fill.replaceAll('/', '') : fill;
        });
        return { inner: p, s };
      });
    fc.assert(
      fc.property(pattern, filled, (outer, { inner, s }) => {
        expect(globMatch(inner, s)).toBe(true);
        return !globCovers(outer, inner) || globMatch(outer, s);
      }),
      { numRuns: 3000 },
    );
  });

  it('every pattern covers itself, and ** covers every pattern', () => {
    fc.assert(fc.property(pattern, (p) => globCovers(p, p) && globCovers('**', p)), { numRuns: 1000 });
  });

  it('for a literal inner pattern it is the same as matching', () => {
    fc.assert(fc.property(pattern, str, (outer, s) => globCovers(outer, s) === globMatch(outer, s)), { numRuns: 2000 });
  });

  it('knows the common cases', () => {
    expect(globCovers('release/*', 'release/2.*')).toBe(true);
    expect(globCovers('release/*', 'release/1')).toBe(true);
    expect(globCovers('release/**', 'release/*')).toBe(true);
    expect(globCovers('release/*', 'release/**')).toBe(false);
    expect(globCovers('release/*', 'release/1/2')).toBe(false);
    expect(globCovers('release/*', 'release-x')).toBe(false);
    expect(globCovers('release/*', 'Release/1')).toBe(false);
    expect(globCovers('**', 'anything/**')).toBe(true);
    expect(globCovers('release/2.*', 'release/*')).toBe(false);
  });
});

describe('globOverlaps', () => {
  it('is symmetric', () => {
    fc.assert(fc.property(pattern, pattern, (a, b) => globOverlaps(a, b) === globOverlaps(b, a)), { numRuns: 3000 });
  });

  it('finds every overlap a common string proves', () => {
    fc.assert(fc.property(pattern, pattern, str, (a, b, s) => !(globMatch(a, s) && globMatch(b, s)) || globOverlaps(a, b)), { numRuns: 5000 });
  });

  it('a pattern that covers another overlaps it', () => {
    fc.assert(fc.property(pattern, pattern, (a, b) => !globCovers(a, b) || globOverlaps(a, b)), { numRuns: 3000 });
  });

  it('says no when nothing can match both', () => {
    expect(globOverlaps('release/*', 'feature/*')).toBe(false);
    expect(globOverlaps('a/*', 'a/b/*')).toBe(false);
    expect(globOverlaps('release/*', 'release-*')).toBe(false);
    expect(globOverlaps('a/**', '*/b')).toBe(true);
    expect(globOverlaps('*-x', 'y-*')).toBe(true);
  });
});

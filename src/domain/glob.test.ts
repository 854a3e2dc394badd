import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globCovers, globMatch, globOverlaps } from './glob.js';

const alphabet = ['a', 'b', '/', '-'];
const str = fc.array(fc.constantFrom(...alphabet), { maxLength: 7 }).map((a) => a.join(''));
const pattern = fc.array(fc.constantFrom(...alphabet, '*', '**'), { maxLength: 6 }).map((a) => a.join(''));

describe('globMatch', () => {
  it('a single star stays inside one segment, anchored at both ends, case-sensitive', () => {
    expect(globMatch('release/*', 'release/1')).toBe(true);
    expect(globMatch('release/*', 'release/')).toBe(true);
    for (const s of ['release-x', 'release/1/2', 'Release/1', 'xrelease/1', 'release']) expect(globMatch('release/*', s), s).toBe(false);
  });

  it('a double star crosses segments', () => {
    expect(globMatch('feature/**', 'feature/a/b/c')).toBe(true);
    expect(globMatch('**/fix', 'a/b/fix')).toBe(true);
    expect(globMatch('feature/**', 'features/a')).toBe(false);
  });

  it('a literal pattern matches exactly itself', () => {
    fc.assert(fc.property(str, str, (a, b) => globMatch(a, b) === (a === b)));
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

  it('knows the common cases', () => {
    expect(globCovers('release/*', 'release/2.*')).toBe(true);
    expect(globCovers('release/**', 'release/*')).toBe(true);
    expect(globCovers('release/*', 'release/**')).toBe(false);
    expect(globCovers('release/*', 'release/1/2')).toBe(false);
    expect(globCovers('**', 'anything/**')).toBe(true);
  });
});

describe('globOverlaps', () => {
  it('is symmetric', () => {
    fc.assert(fc.property(pattern, pattern, (a, b) => globOverlaps(a, b) === globOverlaps(b, a)), { numRuns: 3000 });
  });

  it('finds every overlap a common string proves', () => {
    fc.assert(fc.property(pattern, pattern, str, (a, b, s) => !(globMatch(a, s) && globMatch(b, s)) || globOverlaps(a, b)), { numRuns: 5000 });
  });

  it('says no when nothing can match both', () => {
    expect(globOverlaps('release/*', 'feature/*')).toBe(false);
    expect(globOverlaps('a/*', 'a/b/*')).toBe(false);
    expect(globOverlaps('a/**', '*/b')).toBe(true);
  });
});

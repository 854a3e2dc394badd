// Glob patterns for resource names and scopes.
//
// `*` matches any run of characters inside one `/` segment, `**` matches any run
// of characters across segments. Patterns are anchored at both ends and
// case-sensitive: `release/*` never covers `release-x`, `release/1/2` or
// `Release/1`. There is no other special character, so a literal name is its
// own pattern.

export type Token = { kind: 'lit'; ch: string } | { kind: 'star' } | { kind: 'globstar' };

const cache = new Map<string, Token[]>();

export function tokenize(pattern: string): Token[] {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const out: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        while (pattern[i + 1] === '*') i++;
        out.push({ kind: 'globstar' });
      } else {
        out.push({ kind: 'star' });
      }
    } else {
      out.push({ kind: 'lit', ch });
    }
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(pattern, out);
  return out;
}

export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*');
}

/** Does the concrete string `s` match `pattern`? */
export function globMatch(pattern: string, s: string): boolean {
  if (!hasWildcard(pattern)) return pattern === s;
  const t = tokenize(pattern);
  // Iterative matcher with memo on (token index, string index).
  const memo = new Uint8Array((t.length + 1) * (s.length + 1));
  const go = (i: number, j: number): boolean => {
    const key = i * (s.length + 1) + j;
    const m = memo[key];
    if (m) return m === 1;
    let r: boolean;
    if (i === t.length) r = j === s.length;
    else {
      const tok = t[i]!;
      if (tok.kind === 'lit') r = j < s.length && s[j] === tok.ch && go(i + 1, j + 1);
      else if (tok.kind === 'star') r = go(i + 1, j) || (j < s.length && s[j] !== '/' && go(i, j + 1));
      else r = go(i + 1, j) || (j < s.length && go(i, j + 1));
    }
    memo[key] = r ? 1 : 2;
    return r;
  };
  return go(0, 0);
}

/**
 * Is every string matched by `inner` also matched by `outer`?
 * Conservative: a `true` answer is always right; some true inclusions between
 * unusual patterns answer `false`, which makes callers refuse (fail closed).
 */
export function globCovers(outer: string, inner: string): boolean {
  if (!hasWildcard(inner)) return globMatch(outer, inner);
  const o = tokenize(outer);
  const n = tokenize(inner);
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (n.length + 1) + j;
    const m = memo.get(key);
    if (m !== undefined) return m;
    memo.set(key, false);
    let r: boolean;
    if (i === o.length) r = j === n.length;
    else {
      const a = o[i]!;
      if (a.kind === 'lit') {
        const b = n[j];
        r = !!b && b.kind === 'lit' && b.ch === a.ch && go(i + 1, j + 1);
      } else {
        // outer wildcard: match nothing, or swallow one inner token it can absorb.
        const b = n[j];
        const absorbs =
          !!b &&
          (a.kind === 'globstar' ||
            (b.kind === 'lit' && b.ch !== '/') ||
            b.kind === 'star');
        r = go(i + 1, j) || (absorbs && go(i, j + 1));
      }
    }
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** Is there at least one string both patterns match? */
export function globOverlaps(a: string, b: string): boolean {
  if (!hasWildcard(a)) return globMatch(b, a);
  if (!hasWildcard(b)) return globMatch(a, b);
  const p = tokenize(a);
  const q = tokenize(b);
  const seen = new Set<number>();
  const accepts = (t: Token, ch: string) => t.kind === 'globstar' || (t.kind === 'star' && ch !== '/') || (t.kind === 'lit' && t.ch === ch);
  const go = (i: number, j: number): boolean => {
    const key = i * (q.length + 1) + j;
    if (seen.has(key)) return false;
    seen.add(key);
    if (i === p.length && j === q.length) return true;
    const x = p[i];
    const y = q[j];
    if (x && x.kind !== 'lit' && go(i + 1, j)) return true;
    if (y && y.kind !== 'lit' && go(i, j + 1)) return true;
    if (x && y) {
      if (x.kind === 'lit' && y.kind === 'lit') return x.ch === y.ch && go(i + 1, j + 1);
      if (x.kind === 'lit' && accepts(y, x.ch)) return go(i + 1, j);
      if (y.kind === 'lit' && accepts(x, y.ch)) return go(i, j + 1);
    }
    return false;
  };
  return go(0, 0);
}

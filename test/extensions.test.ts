// How often and how far a grant may be extended.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const config = readFileSync(EXAMPLE_CONFIG, 'utf8').replace(
  '      max_duration: 8h\n      approval: auto\n\n    # Developers',
  '      max_duration: 8h\n      extensions: { max: 1, max_total_duration: 10h }\n      approval: auto\n\n    # Developers',
);

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('extensions: { max: 1');
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

describe('extension limits', () => {
  it('refuses to go past the total, allows one extension, refuses the second', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:feature/e', '-a', 'push', '-d', '6h', '--reason', 'x'], { as: 'alice' });
    ajar.advance(5 * 3600);
    const far = await ajar.cli(['extend', r.grantId, '-d', '6h', '--reason', 'more'], { as: 'alice' });
    expect(far.code).toBe(2);
    expect(far.stderr).toContain('the grant would last 11h in all; the policy allows 10h');
    const ok = await ajar.json(['extend', r.grantId, '-d', '5h', '--reason', 'more'], { as: 'alice' });
    expect(ok.state).toBe('approved');
    const g = await ajar.json(['grants', r.grantId], { as: 'alice' });
    expect(new Date(g.endsAt).getTime() - new Date(g.startsAt).getTime()).toBe(10 * 3600_000);
    const again = await ajar.cli(['extend', r.grantId, '-d', '1h', '--reason', 'even more'], { as: 'alice' });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('was extended 1 time(s); the policy allows 1');
  });
});

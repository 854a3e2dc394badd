// Every example config is valid and passes its own policy tests.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, run } from './support/ajar.js';

const dir = join(import.meta.dirname, '..', 'examples', 'policies');
const tests = readdirSync(dir).filter((f) => f.endsWith('.policy-test.yaml'));
// Schedules are .oncall.yml files beside the config that names them.
const configs = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.endsWith('.policy-test.yaml'));

describe('examples/policies', () => {
  it('has a policy test file for every example', () => {
    expect(configs.length).toBeGreaterThanOrEqual(6);
    expect(tests.map((t) => t.replace('.policy-test.yaml', '.yaml')).sort()).toEqual(configs.sort());
  });

  for (const t of tests) {
    it(`${t} passes`, async () => {
      const r = await run(process.execPath, [CLI, 'policy', 'test', join(dir, t)], process.env);
      expect(r.stdout).toMatch(/ 0 failed$/m);
      expect(r.code).toBe(0);
    });
  }
});

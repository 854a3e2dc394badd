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

describe('examples/split: the policy in its own file', () => {
  const split = join(import.meta.dirname, '..', 'examples', 'split');

  it('ajar policy check checks the config and the policy file it names', async () => {
    const r = await run(process.execPath, [CLI, 'policy', 'check', join(split, 'ajar.yaml'), '--json'], process.env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, identities: 5, resources: 1, rules: 2, policyFile: join(split, 'policy.yaml') });
  });

  it('its policy tests pass', async () => {
    const r = await run(process.execPath, [CLI, 'policy', 'test', join(split, 'ajar.policy-test.yaml')], process.env);
    expect(r.stdout).toMatch(/^4 passed, 0 failed$/m);
    expect(r.code).toBe(0);
  });

  it('given the policy file instead of the config, check says which file to give', async () => {
    const r = await run(process.execPath, [CLI, 'policy', 'check', join(split, 'policy.yaml')], process.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('this is a policy file (rules at the top level), not a config; name it with policy_file: in a config');
  });
});

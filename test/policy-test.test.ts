// `ajar policy test`: users' own policy unit tests, run offline.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_CONFIG, run } from './support/ajar.js';

const EXAMPLE_TESTS = join(import.meta.dirname, '..', 'examples', 'ajar.policy-test.yaml');

function testFile(body: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ajar-policy-test-'));
  copyFileSync(EXAMPLE_CONFIG, join(dir, 'ajar.yaml'));
  const file = join(dir, 'tests.yaml');
  writeFileSync(file, `config: ajar.yaml\ntests:\n${body}`);
  return file;
}

describe('ajar policy test', () => {
  it('the example policy passes its own tests', async () => {
    const r = await run(process.execPath, [CLI, 'policy', 'test', EXAMPLE_TESTS], process.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^8 passed, 0 failed$/m);
  });

  it('a broken expectation fails with what was expected and what the policy said', async () => {
    const file = testFile(
      [
        '  - name: release pushes are auto-approved (wrong)',
        '    request: { as: alice, resources: ["git:payments:release/1"], actions: [push] }',
        '    expect: { eligible: true, auto: true, max_duration: 4h }',
        '  - name: dave may read',
        '    request: { as: dave, resources: ["hg:billing"], actions: [read] }',
        '    expect: { eligible: true }',
      ].join('\n'),
    );
    const r = await run(process.execPath, [CLI, 'policy', 'test', file, '--json'], process.env);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out[0]).toMatchObject({ passed: false, line: 3, failures: ['auto: expected true, got false', 'max_duration: expected "4h", got "2h"'] });
    expect(out[1]).toMatchObject({ passed: true, line: 6 });
  });

  it('a malformed test file is an error (exit 2), not a failure', async () => {
    const file = testFile('  - name: x\n    request: { as: alice, resources: [git:payments], actions: [read] }\n    expect: { elligible: true }\n');
    const r = await run(process.execPath, [CLI, 'policy', 'test', file], process.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('elligible');
    const unknown = testFile('  - name: x\n    request: { as: nobody, resources: [git:payments], actions: [read] }\n    expect: { eligible: false }\n');
    const u = await run(process.execPath, [CLI, 'policy', 'test', unknown], process.env);
    expect(u.code).toBe(1);
    expect(u.stdout).toContain('unknown user or service account "nobody"');
  });
});

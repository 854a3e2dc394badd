// `ajar policy test`: users' own policy unit tests, run offline.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_CONFIG, run } from './support/ajar.js';

const EXAMPLE_TESTS = join(import.meta.dirname, '..', 'examples', 'ajar.policy-test.yaml');

function testFile(body: string, config?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ajar-policy-test-'));
  if (config === undefined) copyFileSync(EXAMPLE_CONFIG, join(dir, 'ajar.yaml'));
  else writeFileSync(join(dir, 'ajar.yaml'), config);
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

  it('answers as the server would: a CEL approve rule or stages that all drop out make it automatic; ticket, reason and fields are inputs', async () => {
    const config = readFileSync(EXAMPLE_CONFIG, 'utf8').replace('  rules:\n', '  automatic:\n    - { name: small-hotfix, decision: approve, when: "request.ticket.startsWith(\'PAY-\') && request.duration_seconds <= 900" }\n  rules:\n');
    const file = testFile(
      [
        '  - name: a short hotfix with a PAY ticket is approved by the automatic rule',
        '    request: { as: alice, resources: ["git:payments:release/1"], actions: [push], duration: 15m, ticket: PAY-9 }',
        '    expect: { eligible: true, auto: true, automatic: approve, automatic_rule: small-hotfix, stages: 0 }',
        '  - name: without the ticket it is reviewed',
        '    request: { as: alice, resources: ["git:payments:release/1"], actions: [push], duration: 15m }',
        '    expect: { eligible: true, auto: false, automatic: none, stages: 1, satisfiable: true }',
        '  - name: a minute too long is reviewed',
        '    request: { as: alice, resources: ["git:payments:release/1"], actions: [push], duration: 16m, ticket: PAY-9 }',
        '    expect: { eligible: true, auto: false }',
      ].join('\n'),
      config,
    );
    const r = await run(process.execPath, [CLI, 'policy', 'test', file, '--json'], process.env);
    expect(JSON.parse(r.stdout).map((x: { failures: string[] }) => x.failures)).toEqual([[], [], []]);
    expect(r.code).toBe(0);
  });

  it('a malformed test file is an error (exit 2), not a failure', async () => {
    const file = testFile('  - name: x\n    request: { as: alice, resources: [git:payments], actions: [read] }\n    expect: { elligible: true }\n');
    const r = await run(process.execPath, [CLI, 'policy', 'test', file], process.env);
    expect(r.code).toBe(2);
    // at the misspelt key's own line and column
    expect(r.stderr).toMatch(/tests\.yaml:5:\d+: tests\.0\.expect\.elligible: unknown key "elligible"/);
    const unknown = testFile('  - name: x\n    request: { as: nobody, resources: [git:payments], actions: [read] }\n    expect: { eligible: false }\n');
    const u = await run(process.execPath, [CLI, 'policy', 'test', unknown], process.env);
    expect(u.code).toBe(1);
    expect(u.stdout).toContain('unknown user or service account "nobody"');
  });
});

// Typed justification: fields the policy asks for, checked and usable in CEL.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const config = readFileSync(EXAMPLE_CONFIG, 'utf8')
  .replace(
    '      max_uses: 1\n      approval: { groups: [leads] }',
    '      max_uses: 1\n      prompts:\n        - { name: incident_id, description: the incident this deploy fixes, pattern: "^INC-[0-9]+$", required: false }\n        - { name: change, pattern: "^CHG-[0-9]+$" }\n      approval: { groups: [leads] }',
  )
  .replace(
    '  pending_ttl: 24h\n',
    '  pending_ttl: 24h\n  automatic:\n    - name: incident-fixes-go-now\n      decision: approve\n      when: \'"incident_id" in request.fields\'\n',
  );

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('prompts:');
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

const deploy = ['request', '-r', 'env:payments:production', '-a', 'deploy', '--reason', 'release'];

describe('justification fields', () => {
  it('a required field must be given and match its pattern; unknown fields are refused', async () => {
    expect((await ajar.cli(deploy, { as: 'deployer' })).stderr).toContain('fields: change is required: add --field change=...');
    expect((await ajar.cli([...deploy, '--field', 'change=42'], { as: 'deployer' })).stderr).toContain('change "42" does not match ^CHG-[0-9]+$');
    expect((await ajar.cli([...deploy, '--field', 'change=CHG-1', '--field', 'color=blue'], { as: 'deployer' })).stderr).toContain('"color" is not asked for');
    expect((await ajar.cli([...deploy, '--field', 'change'], { as: 'deployer' })).stderr).toContain('write it as name=value');
    const ok = await ajar.json([...deploy, '--field', 'change=CHG-7'], { as: 'deployer' });
    expect(ok).toMatchObject({ state: 'pending', fields: { change: 'CHG-7' } });
  });

  it('fields are visible to automatic rules', async () => {
    const r = await ajar.json([...deploy, '--field', 'change=CHG-8', '--field', 'incident_id=INC-3'], { as: 'deployer' });
    expect(r).toMatchObject({ state: 'approved', decidedBy: 'policy:incident-fixes-go-now', fields: { change: 'CHG-8', incident_id: 'INC-3' } });
  });

  it('explain lists the fields to fill in', async () => {
    const e = await ajar.cli(['policy', 'explain', '-a', 'deploy', '-r', 'env:payments:production'], { as: 'deployer' });
    expect(e.stdout).toContain('field incident_id: the incident this deploy fixes — matching ^INC-[0-9]+$');
    expect(e.stdout).toContain('field change (required) — matching ^CHG-[0-9]+$');
    expect(e.stdout).toContain('--field change=...');
  });
});

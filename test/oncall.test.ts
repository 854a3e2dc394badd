// "Production deploys need two approvals from distinct teams, and outside work
// hours also the on-call lead" — with an on-call schedule file.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';

const config = `
admins: { groups: [security] }
groups: { deployers: {}, leads: {}, security: {} }
users:
  bob: { groups: [leads], attributes: { team: payments } }
  pia: { groups: [leads], attributes: { team: payments } }
  carol: { groups: [security], attributes: { team: security } }
  olga: { groups: [leads], attributes: { team: platform } }
service_accounts:
  deployer: { groups: [deployers] }
resources:
  - id: env:payments:production
policy:
  timezone: Europe/Berlin
  oncall_file: oncall.yaml
  rules:
    - name: production-deploy
      who: { service_accounts: [deployer] }
      resources: ["env:payments:production"]
      actions: [deploy]
      max_duration: 30m
      approval:
        stages:
          - { groups: [leads, security], count: 2, distinct: team }
          - { oncall: [payments-lead], count: 1, when: "time.weekday > 5 || time.hour < 9 || time.hour >= 18" }
    - name: oncall-emergency
      who: { oncall: [payments-lead] }
      resources: ["env:payments:production"]
      actions: [deploy]
      max_duration: 1h
      break_glass: true
`;
const schedule = (who: string) => `
rotations:
  payments-lead:
    shifts:
      - { user: ${who}, from: "2026-11-23T00:00:00Z", to: "2026-11-30T00:00:00Z" }
`;

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar({ config: '{}', clock: '2026-11-23T10:00:00Z' }); // Monday 11:00 Berlin
  writeFileSync(join(dirname(ajar.configFile), 'oncall.yaml'), schedule('olga'));
  writeFileSync(ajar.configFile, config);
  await ajar.stop();
  await ajar.start();
});
afterAll(() => ajar?.stop());

const deploy = () => ajar.json(['request', '-r', 'env:payments:production', '-a', 'deploy', '--reason', 'release'], { as: 'deployer' });

describe('on-call approvals', () => {
  it('in work hours two approvers from distinct teams suffice', async () => {
    const r = await deploy();
    expect(r.approvals).toHaveLength(1);
    await ajar.json(['approve', r.id], { as: 'bob' });
    expect((await ajar.json(['approve', r.id], { as: 'carol' })).request.state).toBe('approved');
  });

  it('after hours the on-call lead must approve too, and only whoever is on call', async () => {
    ajar.setClock('2026-11-23T19:00:00Z'); // 20:00 Berlin
    const r = await deploy();
    expect(r.approvals.map((a: any) => a.oncall ?? [])).toEqual([[], ['payments-lead']]);
    await ajar.json(['approve', r.id], { as: 'bob' });
    await ajar.json(['approve', r.id], { as: 'carol' });
    const pia = await ajar.cli(['approve', r.id], { as: 'pia' });
    expect(pia.stderr).toContain('not an approver');
    const e = await ajar.json(['policy', 'explain', '--as', 'deployer', '-a', 'deploy', '-r', 'env:payments:production']);
    expect(e.stages.at(-1)).toMatchObject({ oncall: ['payments-lead'], approvers: ['olga'] });
    expect((await ajar.json(['approve', r.id], { as: 'olga' })).request.state).toBe('approved');
  });

  it('the schedule is reloaded with SIGHUP: the new on-call person approves, the old one no longer can', async () => {
    writeFileSync(join(dirname(ajar.configFile), 'oncall.yaml'), schedule('pia'));
    ajar.signal('SIGHUP');
    let e: any;
    for (let i = 0; i < 50; i++) {
      e = await ajar.json(['policy', 'explain', '--as', 'deployer', '-a', 'deploy', '-r', 'env:payments:production']);
      if (e.stages.at(-1)?.approvers?.[0] === 'pia') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(e.stages.at(-1).approvers).toEqual(['pia']);
    const r = await deploy();
    await ajar.json(['approve', r.id], { as: 'bob' });
    await ajar.json(['approve', r.id], { as: 'carol' });
    expect((await ajar.cli(['approve', r.id], { as: 'olga' })).stderr).toContain('not an approver');
    expect((await ajar.json(['approve', r.id], { as: 'pia' })).request.state).toBe('approved');
  });

  it('CEL sees who is on call', async () => {
    const { parseConfig } = await import('../src/config.js');
    const c = parseConfig(config.replace('  rules:', '  automatic:\n    - { name: x, decision: approve, when: "\'olga\' in oncall[\'payments-lead\']" }\n  rules:'), ajar.configFile);
    expect(c.policy.automatic[0]!.name).toBe('x');
    expect(() => parseConfig(config.replace('oncall: [payments-lead], count', 'oncall: [nope], count'), ajar.configFile)).toThrow(/unknown on-call rotation "nope"/);
    expect(() => parseConfig(config.replace('who: { oncall: [payments-lead] }', 'who: { oncall: [nope] }'), ajar.configFile)).toThrow(/unknown on-call rotation "nope"/);
  });

  it('break-glass for whoever is on call when they ask: the on-call lead gets it at once, the others nothing', async () => {
    // pia is on call since the schedule was reloaded above.
    const ask = (as: string) => ajar.cli(['request', '-r', 'env:payments:production', '-a', 'deploy', '--break-glass', '--reason', 'INC-9 outage', '--json'], { as });
    const pia = await ask('pia');
    expect(pia.code).toBe(0);
    const granted = JSON.parse(pia.stdout);
    expect(granted.state).toBe('approved');
    expect((await ajar.json(['grants', granted.grantId], { as: 'pia' })).breakGlass).toBe(true);
    const olga = await ask('olga');
    expect(olga.code).not.toBe(0);
    expect(olga.stderr).toContain('no break-glass policy rule lets olga request deploy on env:payments:production');
    // After her shift pia is refused too.
    ajar.setClock('2026-11-30T01:00:00Z');
    expect((await ask('pia')).stderr).toContain('no break-glass policy rule lets pia');
  });
});

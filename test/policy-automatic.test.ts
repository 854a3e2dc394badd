// Automatic decisions in CEL, in the policy's time zone, through the real CLI.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const automatic = [
  '  timezone: Europe/Berlin',
  '  automatic:',
  '    - name: payments-team-releases-in-work-hours',
  '      decision: approve',
  '      when: >-',
  '        "team" in requester.attributes && requester.attributes["team"] == "payments"',
  '        && request.actions.all(a, a == "push") && time.weekday <= 5 && time.hour >= 9 && time.hour < 18',
  '    - name: no-deploys-after-hours',
  '      decision: deny',
  '      reason: production deploys only Mon-Fri 09-18 Berlin time',
  '      when: >-',
  '        "deploy" in request.actions && (time.weekday > 5 || time.hour < 9 || time.hour >= 18)',
  '',
].join('\n');
const config = readFileSync(EXAMPLE_CONFIG, 'utf8').replace('  pending_ttl: 24h\n', `  pending_ttl: 24h\n${automatic}`);

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar({ config, clock: '2026-11-23T10:00:00Z' }); // Monday 11:00 in Berlin
});
afterAll(() => ajar?.stop());

const release = (who: string, n: number) => ajar.json(['request', '-r', `git:payments:release/${n}`, '-a', 'push', '--reason', 'r'], { as: who });
const deploy = () => ajar.json(['request', '-r', 'env:payments:production', '-a', 'deploy', '--reason', 'release'], { as: 'deployer' });

describe('automatic decisions', () => {
  it('approves what its condition covers, in work hours, and leaves the rest to people', async () => {
    const a = await release('alice', 1);
    expect(a).toMatchObject({ state: 'approved', autoApproved: true, decidedBy: 'policy:payments-team-releases-in-work-hours' });
    expect((await release('erin', 2)).state).toBe('pending'); // team billing
    expect((await deploy()).state).toBe('pending');
  });

  it('after hours in Berlin the same requests are reviewed or denied', async () => {
    ajar.setClock('2026-11-23T17:30:00Z'); // 18:30 in Berlin
    expect((await release('alice', 3)).state).toBe('pending');
    const d = await deploy();
    expect(d).toMatchObject({ state: 'denied', decidedBy: 'policy:no-deploys-after-hours', decisionReason: 'production deploys only Mon-Fri 09-18 Berlin time', grantId: null });
    const e = await ajar.cli(['policy', 'explain', '--as', 'deployer', '-a', 'deploy', '-r', 'env:payments:production']);
    expect(e.stdout).toContain('would be DENIED by automatic rule no-deploys-after-hours');
    expect(e.code).toBe(1); // explain exits 1 when filing would be refused
    const events = await ajar.json(['audit', '--type', 'request.denied']);
    expect(events.at(-1)).toMatchObject({ actor: 'policy:no-deploys-after-hours', requestId: d.id });
  });

  it('a Saturday is not a work day', async () => {
    ajar.setClock('2026-11-28T10:00:00Z');
    expect((await release('alice', 4)).state).toBe('pending');
  });
});

describe('conditions that cannot work are refused at load, with their line', () => {
  it('unknown fields, non-bool conditions and unknown time zones', () => {
    const problems = (text: string) => {
      try {
        parseConfig(text, 'p.yaml');
        return '';
      } catch (e) {
        return (e as { problems: string[] }).problems.join('\n');
      }
    };
    const line = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    const typo = config.replace('"deploy" in request.actions', '"deploy" in request.action');
    expect(problems(typo)).toMatch(new RegExp(`p\\.yaml:${line(typo, 'request.action &&') - 1}:\\d+: the condition does not type-check`));
    expect(problems(config.replace('"deploy" in request.actions && (time.weekday > 5 || time.hour < 9 || time.hour >= 18)', 'time.hour'))).toContain('must be a bool expression');
    expect(problems(config.replace('timezone: Europe/Berlin', 'timezone: Europe/Berlim'))).toContain('unknown time zone "Europe/Berlim"');
  });
});

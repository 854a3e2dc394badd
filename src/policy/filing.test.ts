import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { decideAtFiling, filingVars, resourceLabels } from './filing.js';
import { evaluateRequest } from './policy.js';

const config = parseConfig(`
groups: { eng: {}, leads: {} }
users:
  erin: { groups: [eng], attributes: { team: billing } }
  bob: { groups: [leads] }
  lena: { groups: [leads] }
resources:
  - id: git:payments
    labels: { tier: critical }
  - id: env:payments:staging
    labels: { tier: low }
  - id: env:payments:production
    labels: { tier: critical }
policy:
  timezone: Europe/Berlin
  rules:
    - name: release
      who: { groups: [eng] }
      resources: ["git:payments:release/*"]
      actions: [push]
      max_duration: 2h
      approval:
        stages:
          - { groups: [leads], count: 1 }
          - { groups: [leads], count: 1, when: "time.hour >= 18" }
  automatic:
    - { name: small, decision: approve, when: "request.duration_seconds <= 600" }
    - { name: evenings, decision: deny, when: "time.hour >= 20" }
`);
const res = (t: string): Resource => (parseResource(t) as { ok: true; value: Resource }).value;
const file = (at: string, durationSeconds = 3600) => {
  const who = config.identities.get('erin')!;
  const resources = [res('git:payments:release/1')];
  const ev = evaluateRequest(config.policy, who, resources, ['push']);
  if (!ev.eligible) throw new Error(ev.reason);
  return decideAtFiling(config.policy, ev.plan, filingVars(config, { who, resources, actions: ['push'], durationSeconds, reason: 'x' }, new Date(at)));
};

describe('decideAtFiling', () => {
  it('keeps the conditional stages whose condition holds at filing, in the policy\'s zone', () => {
    expect(file('2026-11-23T10:00:00Z')).toMatchObject({ auto: false, automatic: null, stages: [{ rule: 'release', ruleStage: 0 }] });
    // 17:30Z is 18:30 in Berlin
    expect(file('2026-11-23T17:30:00Z').stages.map((s) => s.ruleStage)).toEqual([0, 1]);
    expect(file('2026-11-23T17:30:00Z').stages.every((s) => !('conditional' in s))).toBe(true);
  });

  it('an approve rule clears the stages; a deny rule beats it and is recorded', () => {
    expect(file('2026-11-23T10:00:00Z', 600)).toMatchObject({ auto: true, stages: [], automatic: { decision: 'approve', rule: 'small' } });
    expect(file('2026-11-23T19:30:00Z', 600)).toMatchObject({ automatic: { decision: 'deny', rule: 'evenings' } });
  });
});

describe('resourceLabels', () => {
  it('a branch has its repository\'s labels; an environment its own', () => {
    expect(resourceLabels(config, res('git:payments:release/1'))).toEqual({ tier: 'critical' });
    expect(resourceLabels(config, res('env:payments:staging'))).toEqual({ tier: 'low' });
    expect(resourceLabels(config, res('env:payments:production'))).toEqual({ tier: 'critical' });
  });
});

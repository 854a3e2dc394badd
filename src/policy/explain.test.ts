import { describe, expect, it } from 'vitest';
import type { Identity } from '../config.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { explainRequest } from './explain.js';
import type { Policy } from './policy.js';

const res = (t: string): Resource => (parseResource(t) as { ok: true; value: Resource }).value;
const who = (name: string, groups: string[]): Identity => ({ name, kind: 'user', groups, attributes: {}, disabled: false, admin: false });
const policy: Policy = {
  pendingTtlSeconds: 3600,
  timezone: 'UTC',
  automatic: [],
  oncall: new Map(),
  rules: [
    {
      name: 'release',
      who: { users: [], groups: ['eng', 'leads'], service_accounts: [] },
      resources: [res('git:payments:release/*')],
      actions: ['push'],
      maxDurationSeconds: 7200,
      defaultDurationSeconds: 3600,
      effect: 'allow',
      breakGlass: false,
      prompts: [],
      extensions: { max: null, maxTotalSeconds: null },
      minDurationSeconds: 0,
      pendingTtlSeconds: null,
      ticket: null,
      maxUses: null,
      approval: { stages: [{ groups: ['leads'], users: [], count: 2, distinct: null }] },
    },
  ],
};
const people = [who('alice', ['eng']), who('bob', ['leads']), who('lena', ['leads'])];

describe('explainRequest', () => {
  it('names the rule, durations and the people who can approve', () => {
    const e = explainRequest(policy, people[0]!, [res('git:payments:release/1')], ['push'], people);
    expect(e).toMatchObject({ eligible: true, rules: ['release'], defaultDurationSeconds: 3600, maxDurationSeconds: 7200, autoApproved: false });
    expect(e.stages).toEqual([{ rule: 'release', count: 2, groups: ['leads'], users: [], oncall: [], distinct: null, escalate: [], remindEverySeconds: null, approvers: ['bob', 'lena'], satisfiable: true }]);
    expect(e.chain).toEqual({ satisfiable: true, problem: null });
    expect(e.command).toBe('ajar request --resource git:payments:release/1 --action push --reason "..."');
  });

  it('leaves the requester out of their own approvers, and says when a chain cannot be satisfied', () => {
    const e = explainRequest(policy, people[1]!, [res('git:payments:release/1')], ['push'], people);
    expect(e.stages[0]).toMatchObject({ approvers: ['lena'], satisfiable: false });
    expect(e.chain.satisfiable).toBe(false);
    expect(e.chain.problem).toContain('bob, who asks, cannot approve their own request');
  });

  it('says why not when nothing allows it', () => {
    const e = explainRequest(policy, people[0]!, [res('git:payments:main')], ['push'], people);
    expect(e).toMatchObject({ eligible: false, reason: 'no policy rule lets alice request push on git:payments:main', stages: [], command: null });
  });
});

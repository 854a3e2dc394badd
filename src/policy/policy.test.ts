import { describe, expect, it } from 'vitest';
import type { Identity } from '../config.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { approvalProgress, canApproveStage, evaluateRequest, isFullyApproved, type Policy, type PolicyRule, stageFor, ticketProblem } from './policy.js';

const res = (t: string): Resource => (parseResource(t) as { ok: true; value: Resource }).value;
const who = (name: string, groups: string[], kind: Identity['kind'] = 'user'): Identity => ({ name, kind, groups, attributes: {}, disabled: false, admin: false });
const rule = (over: Partial<PolicyRule>): PolicyRule => ({
  name: 'r',
  who: { users: [], groups: [], service_accounts: [] },
  resources: [],
  actions: [],
  maxDurationSeconds: 3600,
  defaultDurationSeconds: 1800,
  effect: 'allow',
  breakGlass: false,
  prompts: [],
  extensions: { max: null, maxTotalSeconds: null },
  minDurationSeconds: 0,
  pendingTtlSeconds: null,
  ticket: null,
  maxUses: null,
  approval: 'auto',
  ...over,
});

const policy: Policy = {
  pendingTtlSeconds: 86400,
  timezone: 'UTC',
  automatic: [],
  oncall: new Map(),
  rules: [
    rule({ name: 'release', who: { users: [], groups: ['eng'], service_accounts: [] }, resources: [res('git:payments:release/*')], actions: ['push'], maxDurationSeconds: 7200, defaultDurationSeconds: 3600, approval: { stages: [{ groups: ['leads'], users: [], count: 1, distinct: null }] } }),
    rule({ name: 'feature', who: { users: [], groups: ['eng'], service_accounts: [] }, resources: [res('git:payments:feature/**')], actions: ['push'], maxDurationSeconds: 28800, defaultDurationSeconds: 28800 }),
    rule({ name: 'deploy', who: { users: [], groups: [], service_accounts: ['deployer'] }, resources: [res('env:payments:production')], actions: ['deploy'], maxDurationSeconds: 1800, maxUses: 1, approval: { stages: [{ groups: ['leads', 'security'], users: ['carol'], count: 2, distinct: null }] } }),
  ],
};

describe('evaluateRequest', () => {
  it('no rule means no, with a reason', () => {
    const e = evaluateRequest(policy, who('dave', ['qa']), [res('git:payments:release/1')], ['push']);
    expect(e).toEqual({ eligible: false, reason: 'no policy rule lets dave request push on git:payments:release/1' });
  });

  it('matches by group and returns the rule\'s plan', () => {
    const e = evaluateRequest(policy, who('alice', ['eng']), [res('git:payments:feature/x/y')], ['push']);
    expect(e).toEqual({
      eligible: true,
      plan: { rules: ['feature'], maxDurationSeconds: 28800, defaultDurationSeconds: 28800, minDurationSeconds: 0, maxUses: null, pendingTtlSeconds: 86400, ticket: { required: false, patterns: [] }, auto: true, stages: [], prompts: [], extensions: { max: null, maxTotalSeconds: null } },
    });
  });

  it('a request wider than the rule is not eligible', () => {
    expect(evaluateRequest(policy, who('alice', ['eng']), [res('git:payments:release/**')], ['push']).eligible).toBe(false);
    expect(evaluateRequest(policy, who('alice', ['eng']), [res('git:payments')], ['push']).eligible).toBe(false);
  });

  it('service accounts match only rules naming them (or their groups)', () => {
    expect(evaluateRequest(policy, who('deployer', [], 'service_account'), [res('env:payments:production')], ['deploy']).eligible).toBe(true);
    expect(evaluateRequest(policy, who('deployer', []), [res('env:payments:production')], ['deploy']).eligible).toBe(false);
    expect(evaluateRequest(policy, who('other', ['eng'], 'service_account'), [res('git:payments:feature/x')], ['push']).eligible).toBe(true);
  });

  it('several rules give the strictest plan: shortest maximum, every rule\'s approvers, auto only if all are', () => {
    const e = evaluateRequest(policy, who('alice', ['eng']), [res('git:payments:feature/x'), res('git:payments:release/2')], ['push']);
    expect(e.eligible).toBe(true);
    if (!e.eligible) return;
    expect(e.plan).toMatchObject({ rules: ['feature', 'release'], maxDurationSeconds: 7200, defaultDurationSeconds: 3600, auto: false });
    expect(e.plan.stages).toEqual([{ rule: 'release', groups: ['leads'], users: [], count: 1, distinct: null, ruleStage: 0 }]);
  });
});

describe('approvals', () => {
  const stage = { rule: 'deploy', groups: ['leads', 'security'], users: ['carol'], count: 2 };

  it('an approver qualifies by group or by name', () => {
    expect(canApproveStage(stage, who('bob', ['leads']))).toBe(true);
    expect(canApproveStage(stage, who('carol', []))).toBe(true);
    expect(canApproveStage(stage, who('alice', ['eng']))).toBe(false);
  });

  it('counts N of M per stage', () => {
    const bob = { who: who('bob', ['leads']), stage: 0 };
    const carol = { who: who('carol', ['security']), stage: 0 };
    expect(isFullyApproved([stage], [bob])).toBe(false);
    expect(isFullyApproved([stage], [bob, carol])).toBe(true);
    expect(approvalProgress([stage], [bob])).toEqual([{ stage, have: 1, approvers: ['bob'] }]);
    expect(isFullyApproved([], [])).toBe(true);
  });

  it('stages approve in order: a later stage waits, and says so', () => {
    const stages = [
      { rule: 'r', groups: ['leads'], users: [], count: 1 },
      { rule: 'r', groups: ['security'], users: [], count: 1 },
    ];
    const sec = who('sam', ['security']);
    expect(stageFor(stages, [], sec)).toEqual({ problem: 'stage 1 (1 of group leads) must approve first; you approve at stage 2' });
    expect(stageFor(stages, [], who('bob', ['leads']))).toEqual({ stage: 0 });
    const afterLead = [{ who: who('bob', ['leads']), stage: 0 }];
    expect(stageFor(stages, afterLead, sec)).toEqual({ stage: 1 });
    expect(stageFor(stages, afterLead, who('lena', ['leads']))).toMatchObject({ problem: expect.stringContaining('not an approver') });
    expect(isFullyApproved(stages, [...afterLead, { who: sec, stage: 1 }])).toBe(true);
  });

  it('a stage with distinct needs approvers who differ in that attribute', () => {
    const stages = [{ rule: 'r', groups: ['leads', 'security'], users: [], count: 2, distinct: 'team' }];
    const p1 = { ...who('bob', ['leads']), attributes: { team: 'payments' } };
    const p2 = { ...who('pia', ['leads']), attributes: { team: 'payments' } };
    const s1 = { ...who('sam', ['security']), attributes: { team: 'security' } };
    const reviews = [{ who: p1, stage: 0 }];
    expect(stageFor(stages, reviews, p2)).toEqual({ problem: 'stage 1 needs approvers with distinct team: bob already approved for team payments' });
    expect(stageFor(stages, reviews, who('nobody', ['leads']))).toMatchObject({ problem: expect.stringContaining('you have no team') });
    expect(stageFor(stages, reviews, s1)).toEqual({ stage: 0 });
  });
});

describe('block rules, minimum durations, tickets and per-rule TTLs', () => {
  const p: Policy = {
    pendingTtlSeconds: 86400,
    timezone: 'UTC',
    automatic: [],
    oncall: new Map(),
    rules: [
      rule({ name: 'no-contractor-push', effect: 'block', who: { users: [], groups: ['contractors'], service_accounts: [] }, resources: [res('git:payments')], actions: ['push'] }),
      rule({ name: 'release', who: { users: [], groups: ['eng', 'contractors'], service_accounts: [] }, resources: [res('git:payments:release/*')], actions: ['push'], minDurationSeconds: 600, defaultDurationSeconds: 300, pendingTtlSeconds: 3600, ticket: { required: true, pattern: '^PAY-[0-9]+$' }, approval: { stages: [{ groups: ['leads'], users: [], count: 1, distinct: null }] } }),
      rule({ name: 'feature', who: { users: [], groups: ['eng'], service_accounts: [] }, resources: [res('git:payments:feature/*')], actions: ['push'], maxDurationSeconds: 1800, minDurationSeconds: 0 }),
      rule({ name: 'tiny', who: { users: [], groups: ['eng'], service_accounts: [] }, resources: [res('git:payments:tiny/*')], actions: ['push'], maxDurationSeconds: 300 }),
    ],
  };

  it('a block rule wins over an allow rule, even one listed after it', () => {
    const e = evaluateRequest(p, who('cora', ['contractors']), [res('git:payments:release/1')], ['push']);
    expect(e).toEqual({ eligible: false, reason: 'rule no-contractor-push blocks cora from push on git:payments:release/1' });
    expect(evaluateRequest(p, who('alice', ['eng']), [res('git:payments:release/1')], ['push']).eligible).toBe(true);
  });

  it('carries the minimum duration, the ticket rule and the shortest pending TTL', () => {
    const e = evaluateRequest(p, who('alice', ['eng']), [res('git:payments:release/1'), res('git:payments:feature/x')], ['push']);
    if (!e.eligible) throw new Error(e.reason);
    expect(e.plan).toMatchObject({ minDurationSeconds: 600, maxDurationSeconds: 1800, defaultDurationSeconds: 600, pendingTtlSeconds: 3600, ticket: { required: true, patterns: ['^PAY-[0-9]+$'] } });
    expect(ticketProblem(e.plan, undefined)).toContain('a ticket is required');
    expect(ticketProblem(e.plan, 'JIRA-1')).toContain('does not match the required ticket pattern');
    expect(ticketProblem(e.plan, 'PAY-42')).toBeUndefined();
  });

  it('rules with no common duration make the request ineligible', () => {
    const e = evaluateRequest(p, who('alice', ['eng']), [res('git:payments:release/1'), res('git:payments:tiny/x')], ['push']);
    expect(e).toMatchObject({ eligible: false, reason: expect.stringContaining('allow no common duration') });
  });
});

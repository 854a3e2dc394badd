import { describe, expect, it } from 'vitest';
import type { Identity } from '../config.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { type ApprovalStage, approvalProgress, canApproveStage, currentStage, evaluateRequest, isFullyApproved, type Policy, type PolicyRule, stageFor, ticketProblem } from './policy.js';

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
    expect([...e.plan.rules].sort()).toEqual(['feature', 'release']);
    expect(e.plan).toMatchObject({ maxDurationSeconds: 7200, defaultDurationSeconds: 3600, auto: false });
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

  it('distinct: group takes one approval from each group named: one from security and one from the owners', () => {
    const stages = [{ rule: 'r', groups: ['security', 'owners'], users: [], count: 2, distinct: 'group' }];
    const owner = who('ola', ['owners']);
    const both = who('bea', ['owners', 'security']);
    expect(stageFor(stages, [{ who: owner, stage: 0 }], who('oli', ['owners']))).toMatchObject({ problem: expect.stringContaining('needs each approval from a different one') });
    expect(stageFor(stages, [{ who: owner, stage: 0 }], who('sam', ['security']))).toEqual({ stage: 0 });
    // Someone in both groups counts for the one still missing.
    expect(stageFor(stages, [{ who: owner, stage: 0 }], both)).toEqual({ stage: 0 });
    expect(stageFor(stages, [{ who: both, stage: 0 }], owner)).toEqual({ stage: 0 });
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

describe('evaluateRequest: who a rule names', () => {
  const who3 = (users: string[], groups: string[], service_accounts: string[]) => ({ users, groups, service_accounts });
  const p = (w: PolicyRule['who']): Policy => ({
    pendingTtlSeconds: 86400,
    timezone: 'UTC',
    automatic: [],
    oncall: new Map(),
    rules: [rule({ name: 'only', who: w, resources: [res('git:payments:feature/*')], actions: ['push'] })],
  });
  const ask = (pol: Policy, id: Identity) => evaluateRequest(pol, id, [res('git:payments:feature/x')], ['push']).eligible;

  it('a user qualifies by name or by any one of their groups', () => {
    expect(ask(p(who3(['alice'], [], [])), who('alice', []))).toBe(true);
    expect(ask(p(who3([], ['eng', 'leads'], [])), who('bob', ['qa', 'leads']))).toBe(true);
    expect(ask(p(who3([], ['eng'], [])), who('dave', ['qa']))).toBe(false);
    expect(ask(p(who3([], ['eng'], [])), who('dave', []))).toBe(false);
    expect(ask(p(who3(['alice'], [], [])), who('Alice', []))).toBe(false);
  });

  it('a user is never matched through the service_accounts list', () => {
    expect(ask(p(who3([], [], ['alice'])), who('alice', ['eng']))).toBe(false);
  });

  it('a service account is matched only through service_accounts or its groups, never through users', () => {
    expect(ask(p(who3([], [], ['deployer'])), who('deployer', [], 'service_account'))).toBe(true);
    expect(ask(p(who3([], ['deployers'], [])), who('deployer', ['deployers'], 'service_account'))).toBe(true);
    expect(ask(p(who3(['deployer'], [], [])), who('deployer', [], 'service_account'))).toBe(false);
    expect(ask(p(who3([], [], ['other'])), who('deployer', [], 'service_account'))).toBe(false);
  });

  it('who.oncall names whoever is on call in the rotation when they ask, and nobody when the schedule cannot be read', () => {
    const pol = p({ ...who3([], [], []), oncall: ['payments'] });
    const onCall = (rotation: string) => (rotation === 'payments' ? ['olga'] : []);
    const e = (id: Identity, o?: (r: string) => string[]) => evaluateRequest(pol, id, [res('git:payments:feature/x')], ['push'], { onCall: o }).eligible;
    expect(e(who('olga', []), onCall)).toBe(true);
    expect(e(who('pia', []), onCall)).toBe(false);
    expect(e(who('olga', []))).toBe(false);
    // A service account or workload of the same name is never "on call".
    expect(e(who('olga', [], 'service_account'), onCall)).toBe(false);
  });

  it('a rule for another action, another kind or a narrower resource does not make a request eligible', () => {
    const pol = p(who3(['alice'], [], []));
    const e = evaluateRequest(pol, who('alice', []), [res('git:payments:feature/x')], ['force-push']);
    expect(e).toEqual({ eligible: false, reason: 'no policy rule lets alice request force-push on git:payments:feature/x' });
    expect(evaluateRequest(pol, who('alice', []), [res('hg:payments:feature/x')], ['push']).eligible).toBe(false);
    expect(evaluateRequest(pol, who('alice', []), [res('git:payments:feature/*')], ['push']).eligible).toBe(true);
    expect(evaluateRequest(pol, who('alice', []), [res('git:payments:feature/**')], ['push']).eligible).toBe(false);
  });

  it('every action of the request must be allowed, and the reason names the first one missing', () => {
    const e = evaluateRequest(p(who3(['alice'], [], [])), who('alice', []), [res('git:payments:feature/x')], ['push', 'delete']);
    expect(e).toEqual({ eligible: false, reason: 'no policy rule lets alice request delete on git:payments:feature/x' });
  });

  it('break-glass rules are used only when asked for, and ordinary rules never then', () => {
    const pol: Policy = {
      ...p(who3(['alice'], [], [])),
      rules: [rule({ name: 'glass', breakGlass: true, who: who3(['alice'], [], []), resources: [res('git:payments')], actions: ['push'] })],
    };
    expect(evaluateRequest(pol, who('alice', []), [res('git:payments:main')], ['push'])).toEqual({
      eligible: false,
      reason: 'no policy rule lets alice request push on git:payments:main',
    });
    const e = evaluateRequest(pol, who('alice', []), [res('git:payments:main')], ['push'], { breakGlass: true });
    expect(e).toMatchObject({ eligible: true, plan: { rules: ['glass'], breakGlass: true } });
    expect(evaluateRequest(p(who3(['alice'], [], [])), who('alice', []), [res('git:payments:feature/x')], ['push'], { breakGlass: true })).toEqual({
      eligible: false,
      reason: 'no break-glass policy rule lets alice request push on git:payments:feature/x',
    });
  });
});

describe('evaluateRequest: a request under several rules takes the strictest plan', () => {
  const st = (groups: string[], count = 1): PolicyRule['approval'] => ({ stages: [{ groups, users: [], count, distinct: null }] });
  const mk = (over: Partial<PolicyRule>) => rule({ who: { users: [], groups: ['eng'], service_accounts: [] }, actions: ['push'], ...over });
  const pol: Policy = {
    pendingTtlSeconds: 86400,
    timezone: 'UTC',
    automatic: [],
    oncall: new Map(),
    rules: [
      mk({ name: 'a-auto', resources: [res('git:payments:a/*')], maxDurationSeconds: 8 * 3600, defaultDurationSeconds: 8 * 3600 }),
      mk({ name: 'b-leads', resources: [res('git:payments:b/*')], maxDurationSeconds: 2 * 3600, defaultDurationSeconds: 3600, maxUses: 5, approval: st(['leads']) }),
      mk({ name: 'c-security', resources: [res('git:payments:c/*')], maxDurationSeconds: 4 * 3600, defaultDurationSeconds: 4 * 3600, maxUses: 2, approval: st(['security'], 2) }),
      mk({ name: 'd-auto', resources: [res('git:payments:d/*')], maxDurationSeconds: 3 * 3600, defaultDurationSeconds: 3 * 3600 }),
    ],
  };
  const plan = (...scopes: string[]) => {
    const e = evaluateRequest(pol, who('alice', ['eng']), scopes.map((s) => res(`git:payments:${s}`)), ['push']);
    if (!e.eligible) throw new Error(e.reason);
    return e.plan;
  };

  it('the shortest maximum duration, and a default no longer than it', () => {
    expect(plan('a/1', 'b/1', 'c/1')).toMatchObject({ maxDurationSeconds: 2 * 3600, defaultDurationSeconds: 3600 });
    expect(plan('a/1', 'd/1')).toMatchObject({ maxDurationSeconds: 3 * 3600, defaultDurationSeconds: 3 * 3600 });
  });

  it('the fewest uses of the rules that limit them', () => {
    expect(plan('b/1', 'c/1').maxUses).toBe(2);
    expect(plan('a/1', 'b/1').maxUses).toBe(5);
    expect(plan('a/1', 'd/1').maxUses).toBeNull();
  });

  it('automatic only if every rule used is automatic', () => {
    expect(plan('a/1', 'd/1')).toMatchObject({ auto: true, stages: [] });
    expect(plan('a/1', 'b/1').auto).toBe(false);
    expect(plan('c/1', 'd/1').auto).toBe(false);
  });

  it('the stages of each rule that needs approval, each rule once', () => {
    const p = plan('a/1', 'b/1', 'c/1', 'b/2', 'd/1');
    expect(p.stages).toHaveLength(2);
    expect(p.stages).toEqual(
      expect.arrayContaining([
        { rule: 'b-leads', groups: ['leads'], users: [], count: 1, distinct: null, ruleStage: 0 },
        { rule: 'c-security', groups: ['security'], users: [], count: 2, distinct: null, ruleStage: 0 },
      ]),
    );
    expect(new Set(p.rules)).toEqual(new Set(['a-auto', 'b-leads', 'c-security', 'd-auto']));
  });

  it('the plan lists its rules, and so orders its stages, in policy order, whatever order the request names the resources in', () => {
    // Plan.rules is documented as "in policy order"; the approval chain should not
    // depend on the order the requester happened to type the resources in.
    const forward = plan('b/1', 'c/1');
    const backward = plan('c/1', 'b/1');
    expect(forward.rules).toEqual(['b-leads', 'c-security']);
    expect(backward.rules).toEqual(['b-leads', 'c-security']);
    expect(backward.stages.map((s) => s.rule)).toEqual(['b-leads', 'c-security']);
  });

  it('the first rule in policy order that covers a pair is the one used', () => {
    const twice: Policy = { ...pol, rules: [mk({ name: 'first', resources: [res('git:payments:b/*')], approval: st(['leads']) }), ...pol.rules] };
    const e = evaluateRequest(twice, who('alice', ['eng']), [res('git:payments:b/1')], ['push']);
    expect(e).toMatchObject({ eligible: true, plan: { rules: ['first'] } });
  });
});

describe('approvals: N of M, stage by stage', () => {
  const two: ApprovalStage = { rule: 'r', groups: ['leads', 'security'], users: ['carol'], count: 2 };
  const one: ApprovalStage = { rule: 'r', groups: ['security'], users: [], count: 1 };
  const review = (name: string, stage: number) => ({ who: who(name, ['leads']), stage });

  it('a stage is met only when N approvals counted for it', () => {
    expect(isFullyApproved([two], [])).toBe(false);
    expect(isFullyApproved([two], [review('bob', 0)])).toBe(false);
    expect(isFullyApproved([two], [review('bob', 0), review('lena', 0)])).toBe(true);
    expect(isFullyApproved([two], [review('bob', 0), review('lena', 0), review('carol', 0)])).toBe(true);
  });

  it('approvals counted for one stage never count for another', () => {
    expect(isFullyApproved([two, one], [review('bob', 0), review('lena', 0)])).toBe(false);
    expect(isFullyApproved([two, one], [review('bob', 1), review('lena', 1), review('sam', 1)])).toBe(false);
    expect(currentStage([two, one], [review('bob', 0), review('lena', 0)])).toBe(1);
    expect(isFullyApproved([two, one], [review('bob', 0), review('lena', 0), review('sam', 1)])).toBe(true);
    expect(currentStage([two, one], [review('bob', 0), review('lena', 0), review('sam', 1)])).toBe(-1);
  });

  it('approvalProgress says how many each stage has and who they are', () => {
    expect(approvalProgress([two, one], [review('bob', 0), review('sam', 1)])).toEqual([
      { stage: two, have: 1, approvers: ['bob'] },
      { stage: one, have: 1, approvers: ['sam'] },
    ]);
    expect(approvalProgress([two, one], [])).toEqual([
      { stage: two, have: 0, approvers: [] },
      { stage: one, have: 0, approvers: [] },
    ]);
  });
});

describe('canApproveStage', () => {
  const stage: ApprovalStage = {
    rule: 'r',
    groups: ['leads'],
    users: ['carol'],
    count: 1,
    oncall: ['payments-primary'],
    escalate: [{ afterSeconds: 3600, groups: ['directors'], users: ['vera'] }],
  };
  const onCall = (rotation: string) => (rotation === 'payments-primary' ? ['olga'] : ['nobody']);

  it('an approver qualifies by a group of the stage or by name', () => {
    expect(canApproveStage(stage, who('bob', ['eng', 'leads']))).toBe(true);
    expect(canApproveStage(stage, who('carol', []))).toBe(true);
    expect(canApproveStage(stage, who('alice', ['eng']))).toBe(false);
    expect(canApproveStage(stage, who('Carol', []))).toBe(false);
  });

  it('escalation approvers qualify only once the stage has escalated', () => {
    expect(canApproveStage(stage, who('dora', ['directors']))).toBe(false);
    expect(canApproveStage(stage, who('vera', []))).toBe(false);
    expect(canApproveStage(stage, who('dora', ['directors']), undefined, true)).toBe(true);
    expect(canApproveStage(stage, who('vera', []), undefined, true)).toBe(true);
    expect(canApproveStage(stage, who('alice', ['eng']), undefined, true)).toBe(false);
  });

  it('whoever is on call in a rotation of the stage qualifies, and only when the caller says who that is', () => {
    expect(canApproveStage(stage, who('olga', []), onCall)).toBe(true);
    expect(canApproveStage(stage, who('olga', []))).toBe(false);
    expect(canApproveStage(stage, who('nobody', []), onCall)).toBe(false);
    expect(canApproveStage({ ...stage, oncall: undefined }, who('olga', []), onCall)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import type { Identity } from '../config.js';
import { chainProblem, fitsStage, valuesFor } from './chain.js';
import type { ApprovalStage } from './policy.js';

const who = (name: string, groups: string[], attributes: Record<string, string> = {}): Identity => ({ name, kind: 'user', groups, attributes, disabled: false, admin: false });
const stage = (over: Partial<ApprovalStage>): ApprovalStage => ({ rule: 'r', groups: [], users: [], count: 1, distinct: null, ...over });

const bob = who('bob', ['leads', 'owners'], { team: 'payments' });
const lena = who('lena', ['leads'], { team: 'payments' });
const sam = who('sam', ['security'], { team: 'security' });
const ola = who('ola', ['owners'], { team: 'platform' });

describe('whether an approval chain can be satisfied', () => {
  it('nobody approves twice: one person cannot fill two stages', () => {
    const twice = [stage({ users: ['bob'] }), stage({ users: ['bob'] })];
    expect(chainProblem(twice, [bob, lena])).toContain('at most 1 can be given');
    expect(chainProblem([stage({ users: ['bob'] }), stage({ groups: ['leads'] })], [bob, lena])).toBeUndefined();
  });

  it('nobody approves their own request: the requester is left out', () => {
    const leads = [stage({ groups: ['leads'], count: 2 })];
    expect(chainProblem(leads, [bob, lena])).toBeUndefined();
    expect(chainProblem(leads, [bob, lena], 'bob')).toContain('bob, who asks, cannot approve their own request');
  });

  it('people are assigned where they are needed most (a matching, not a greedy pick)', () => {
    // bob could approve either stage; lena only the first: bob must take the second.
    const chain = [stage({ groups: ['leads'] }), stage({ groups: ['owners'] })];
    expect(chainProblem(chain, [bob, lena])).toBeUndefined();
    expect(chainProblem(chain, [bob, lena], 'lena')).toContain('at most 1');
  });

  it('distinct attribute: approvers of one stage differ in it, and people without it do not count', () => {
    const teams = [stage({ groups: ['leads', 'security'], count: 2, distinct: 'team' })];
    expect(chainProblem(teams, [bob, lena])).toContain('each stage\'s approvers distinct');
    expect(chainProblem(teams, [bob, lena, sam])).toBeUndefined();
    expect(chainProblem(teams, [bob, lena, who('x', ['security'])])).toBeDefined();
  });

  it('distinct: group needs one approval from each of the groups named (one from security and one from the owners)', () => {
    const st = stage({ groups: ['security', 'owners'], count: 2, distinct: 'group' });
    expect(chainProblem([st], [bob, ola])).toBeDefined(); // two owners, no security
    expect(chainProblem([st], [bob, sam])).toBeUndefined();
    expect(valuesFor(st, bob)).toEqual(['group:owners']);
    expect(fitsStage(st, [{ who: bob, escalated: false }, { who: ola, escalated: false }])).toBe(false);
    expect(fitsStage(st, [{ who: ola, escalated: false }, { who: sam, escalated: false }])).toBe(true);
  });

  it('escalation tiers count: the chain can be satisfied in the end; on-call stages count only with a schedule', () => {
    const esc = [stage({ users: ['bob'], escalate: [{ afterSeconds: 3600, groups: ['security'], users: [] }] })];
    expect(chainProblem(esc, [bob, sam], 'bob')).toBeUndefined();
    const oncall = [stage({ oncall: ['lead'] })];
    expect(chainProblem(oncall, [bob])).toBeUndefined();
    expect(chainProblem(oncall, [bob], undefined, () => [])).toBeDefined();
    expect(chainProblem(oncall, [bob], undefined, () => ['bob'])).toBeUndefined();
  });
});

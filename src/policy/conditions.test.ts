import { describe, expect, it } from 'vitest';
import { type AutomaticRule, automaticDecision, compileCondition, type ConditionVars, zonedTime } from './conditions.js';

const vars = (over: Partial<ConditionVars> = {}): ConditionVars => ({
  request: { actions: ['read'], resources: ['git:payments'], duration_seconds: 3600n, ticket: '', reason: 'x', fields: {} },
  requester: { name: 'dave', kind: 'user', groups: ['qa'], attributes: { team: 'qa' } },
  resources: [{ kind: 'git', name: 'payments', scope: '', labels: { tier: 'critical' } }],
  time: zonedTime(new Date('2026-11-23T10:00:00Z'), 'Europe/Berlin'),
  oncall: {},
  ...over,
});

const rule = (name: string, decision: 'approve' | 'deny', when: string): AutomaticRule => {
  const test = compileCondition(when);
  if (typeof test === 'string') throw new Error(test);
  return { name, decision, when, reason: null, test };
};

describe('compileCondition', () => {
  it('type-checks at load: unknown fields, wrong types and non-bool results are refused', () => {
    expect(compileCondition('request.nope == "x"')).toMatch(/nope/);
    expect(compileCondition('request.duration_seconds + "s"')).toEqual(expect.any(String));
    expect(compileCondition('time.hour')).toBe('must be a bool expression, but is int');
    expect(compileCondition('request.actions.all(a, a == "read"')).toEqual(expect.any(String));
    expect(typeof compileCondition('"qa" in requester.groups && time.weekday <= 5')).toBe('function');
  });

  it('evaluates over the request, requester, resource labels and time', () => {
    const t = compileCondition('"qa" in requester.groups && request.actions.all(a, a == "read") && resources.all(r, r.labels["tier"] == "critical") && time.hour >= 9') as (v: ConditionVars) => boolean;
    expect(t(vars())).toBe(true);
    expect(t(vars({ requester: { name: 'alice', kind: 'user', groups: ['eng'], attributes: {} } }))).toBe(false);
  });
});

describe('zonedTime', () => {
  it('gives wall-clock hour and ISO weekday in the zone, across a daylight-saving change', () => {
    // Monday 2026-11-23 10:00 UTC is 11:00 in Berlin (CET, UTC+1)
    expect(zonedTime(new Date('2026-11-23T10:00:00Z'), 'Europe/Berlin')).toEqual({ hour: 11n, minute: 0n, weekday: 1n, date: '2026-11-23', timezone: 'Europe/Berlin' });
    // Berlin moves to CEST (UTC+2) at 01:00 UTC on Sunday 2026-03-29
    expect(zonedTime(new Date('2026-03-29T00:30:00Z'), 'Europe/Berlin')).toMatchObject({ hour: 1n, minute: 30n, weekday: 7n });
    expect(zonedTime(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toMatchObject({ hour: 3n, minute: 30n, weekday: 7n });
    // and back to CET on 2026-10-25 at 01:00 UTC
    expect(zonedTime(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toMatchObject({ hour: 2n });
    expect(zonedTime(new Date('2026-10-25T01:30:00Z'), 'Europe/Berlin')).toMatchObject({ hour: 2n });
    // late Sunday in New York is already Monday in UTC
    expect(zonedTime(new Date('2026-11-23T03:00:00Z'), 'America/New_York')).toMatchObject({ hour: 22n, weekday: 7n, date: '2026-11-22' });
  });
});

describe('automaticDecision', () => {
  const approveQa = rule('qa-reads', 'approve', '"qa" in requester.groups');
  const denyNight = rule('no-nights', 'deny', 'time.hour < 7 || time.hour >= 20');
  it('a deny rule beats an approve rule, wherever it is listed', () => {
    const night = vars({ time: zonedTime(new Date('2026-11-23T21:00:00Z'), 'Europe/Berlin') });
    expect(automaticDecision([approveQa, denyNight], night)).toEqual({ decision: 'deny', rule: 'no-nights', reason: null });
    expect(automaticDecision([approveQa, denyNight], vars())).toEqual({ decision: 'approve', rule: 'qa-reads', reason: null });
    expect(automaticDecision([denyNight], vars())).toBeUndefined();
  });

  it('a condition that cannot be evaluated approves nothing automatically', () => {
    const missingLabel = rule('owner-is-qa', 'approve', 'resources.all(r, r.labels["owner"] == "qa")');
    expect(automaticDecision([missingLabel], vars())).toBeUndefined();
    expect(automaticDecision([approveQa, rule('broken-deny', 'deny', 'resources.exists(r, r.labels["nope"] == "x")')], vars())).toBeUndefined();
  });
});

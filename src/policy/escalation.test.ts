import { describe, expect, it } from 'vitest';
import type { Identity } from '../config.js';
import { type ApprovalStage, canApproveStage, escalationTimes, isEscalated, nextEscalation, nextReminder, type Review, storedPlan } from './policy.js';

const person = (name: string): Identity => ({ name, kind: 'user', groups: ['leads'], attributes: {}, disabled: false, admin: false });
const filedAt = new Date('2026-11-23T09:00:00Z');
const later = (minutes: number) => new Date(filedAt.getTime() + minutes * 60_000);
const stages: ApprovalStage[] = [
  { rule: 'release', groups: ['leads'], users: [], count: 2, escalate: [{ afterSeconds: 7200, groups: ['security'], users: [] }] },
  { rule: 'release', groups: ['security'], users: [], count: 1 },
  { rule: 'release', groups: ['cab'], users: [], count: 1, escalate: [{ afterSeconds: 1800, groups: [], users: ['carol'] }] },
];
const approved = (who: string, stage: number, minutes: number): Review => ({ who: person(who), stage, at: later(minutes) });

describe('the escalation timer', () => {
  it('the first stage escalates `after` from filing; an approval within the stage does not restart it', () => {
    expect(escalationTimes(stages, [], 0, filedAt).map((t) => t.at)).toEqual([later(120)]);
    expect(nextEscalation(stages, [], filedAt)).toEqual({ stage: 0, tier: 0, at: later(120) });
    expect(nextEscalation(stages, [approved('bob', 0, 60)], filedAt)).toEqual({ stage: 0, tier: 0, at: later(120) });
    expect(isEscalated(stages, [], 0, filedAt, later(119))).toBe(0);
    expect(isEscalated(stages, [], 0, filedAt, later(120))).toBe(1);
  });

  it('a stage without escalation has no timer; a later one counts from the approval that started it', () => {
    const stage0Done = [approved('bob', 0, 30), approved('pia', 0, 45)];
    expect(nextEscalation(stages, stage0Done, filedAt)).toBeNull();
    expect(escalationTimes(stages, stage0Done, 1, filedAt)).toEqual([]);
    const stage1Done = [...stage0Done, approved('sam', 1, 300)];
    expect(nextEscalation(stages, stage1Done, filedAt)).toEqual({ stage: 2, tier: 0, at: later(330) });
  });

  it('tiers come one after another: each widens who may decide, and the timer moves to the next tier', () => {
    const tiered: ApprovalStage[] = [
      {
        rule: 'release',
        groups: ['leads'],
        users: [],
        count: 1,
        escalate: [
          { afterSeconds: 3600, groups: ['security'], users: [] },
          { afterSeconds: 4 * 3600, groups: [], users: ['ciso'] },
        ],
      },
    ];
    const sec: Identity = { ...person('sam'), groups: ['security'] };
    const ciso: Identity = { ...person('ciso'), groups: [] };
    expect(nextEscalation(tiered, [], filedAt)).toEqual({ stage: 0, tier: 0, at: later(60) });
    expect(nextEscalation(tiered, [], filedAt, later(60))).toEqual({ stage: 0, tier: 1, at: later(240) });
    expect(nextEscalation(tiered, [], filedAt, later(240))).toBeNull();
    const reached = (m: number) => isEscalated(tiered, [], 0, filedAt, later(m));
    expect([reached(59), reached(60), reached(239), reached(240)]).toEqual([0, 1, 1, 2]);
    expect(canApproveStage(tiered[0]!, sec, undefined, reached(59))).toBe(false);
    expect(canApproveStage(tiered[0]!, sec, undefined, reached(60))).toBe(true);
    expect(canApproveStage(tiered[0]!, ciso, undefined, reached(60))).toBe(false);
    expect(canApproveStage(tiered[0]!, ciso, undefined, reached(240))).toBe(true);
  });

  it('a plan stored before tiers existed (one tier as an object) reads as one tier', () => {
    const old = { stages: [{ rule: 'r', groups: ['leads'], users: [], count: 1, escalate: { afterSeconds: 60, groups: ['security'], users: [] } }] } as never;
    expect(storedPlan(old).stages[0]!.escalate).toEqual([{ afterSeconds: 60, groups: ['security'], users: [] }]);
  });

  it('no timer once every stage is met', () => {
    const all = [approved('bob', 0, 1), approved('pia', 0, 2), approved('sam', 1, 3), approved('cid', 2, 4)];
    expect(nextEscalation(stages, all, filedAt)).toBeNull();
  });
});

describe('reminders', () => {
  const reminded: ApprovalStage[] = [
    { rule: 'release', groups: ['leads'], users: [], count: 1, remindEverySeconds: 3600 },
    { rule: 'release', groups: ['security'], users: [], count: 1 },
    { rule: 'release', groups: ['cab'], users: [], count: 1, remindEverySeconds: 1800 },
  ];

  it('come every `remind_every` from the stage start, the next one after now', () => {
    expect(nextReminder(reminded, [], filedAt, filedAt)).toEqual({ stage: 0, at: later(60) });
    expect(nextReminder(reminded, [], filedAt, later(59))).toEqual({ stage: 0, at: later(60) });
    expect(nextReminder(reminded, [], filedAt, later(60))).toEqual({ stage: 0, at: later(120) });
  });

  it('after a downtime the next one is in the future: missed reminders do not come in a burst', () => {
    expect(nextReminder(reminded, [], filedAt, later(60 * 5 + 10))).toEqual({ stage: 0, at: later(360) });
  });

  it('a stage without reminders has none; a later stage counts from the approval that started it', () => {
    const stage0 = [approved('bob', 0, 30)];
    expect(nextReminder(reminded, stage0, filedAt, later(30))).toBeNull();
    const stage1 = [...stage0, approved('sam', 1, 100)];
    expect(nextReminder(reminded, stage1, filedAt, later(100))).toEqual({ stage: 2, at: later(130) });
    expect(nextReminder(reminded, [...stage1, approved('cid', 2, 101)], filedAt, later(101))).toBeNull();
  });
});

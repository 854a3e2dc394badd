import { describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../config.js';
import { parseResource, type Resource } from '../domain/resource.js';
import { decideAtFiling, filingVars } from './filing.js';
import { readFrom } from './policy-file.js';
import { evaluateRequest } from './policy.js';
import { type RecordedRequest, simulate } from './simulate.js';

// Identities and resources stay; each test changes the policy (and sometimes a person).
const identities = (erinTeam = 'billing', labels = '{ owner: payments }') => `
groups: { eng: {}, leads: {} }
users:
  alice: { groups: [eng], attributes: { team: payments } }
  erin: { groups: [eng], attributes: { team: ${erinTeam} } }
  bob: { groups: [leads], attributes: { team: payments } }
  olga: { groups: [leads, eng], attributes: { team: platform } }
resources:
  - id: git:payments
    labels: ${labels}
`;
const release = (stages: string, extra = '') => `
    - name: release-push
      who: { groups: [eng] }
      resources: ["git:payments:release/*"]
      actions: [push]
      max_duration: 2h
${extra}      approval:
        stages:
${stages}`;
const LEADS = '          - { groups: [leads], count: 1 }\n';
const ONCALL_AFTER_HOURS = '          - { oncall: [payments-lead], count: 1, when: "time.weekday > 5 || time.hour < 9 || time.hour >= 18" }\n';
const schedule = `rotations:
  payments-lead:
    shifts:
      - { user: olga, from: "2026-11-23T00:00:00Z", to: "2026-11-30T00:00:00Z" }
      - { user: bob, from: "2026-07-01T00:00:00Z", to: "2026-08-01T00:00:00Z" }
`;
const config = (rules: string, automatic = '', people = identities()): Config =>
  parseConfig(`${people}policy:\n  timezone: Europe/Berlin\n  oncall_file: oncall.yml\n  rules:${rules}\n  automatic:${automatic || ' []'}\n`, '/cfg/ajar.yaml', {
    read: readFrom({ '/cfg/oncall.yml': schedule }),
  });
const auto = (name: string, decision: 'approve' | 'deny', when: string, reason?: string) =>
  `\n    - name: ${name}\n      decision: ${decision}\n      when: ${JSON.stringify(when)}\n${reason ? `      reason: ${reason}\n` : ''}`;

const res = (t: string): Resource => (parseResource(t) as { ok: true; value: Resource }).value;
let n = 0;
/** File a request under `c` at `at`, as the server does, and record it as the database would. */
function filed(c: Config, r: { as: string; resource?: string; at: string; ticket?: string; reason?: string; fields?: Record<string, string>; breakGlass?: boolean }): RecordedRequest {
  const who = c.identities.get(r.as)!;
  const resources = [res(r.resource ?? 'git:payments:release/1')];
  const ev = evaluateRequest(c.policy, who, resources, ['push'], { breakGlass: r.breakGlass === true });
  if (!ev.eligible) throw new Error(ev.reason);
  const input = { who, resources, actions: ['push'], durationSeconds: 3600, ticket: r.ticket ?? null, reason: r.reason ?? 'release', fields: r.fields ?? {} };
  const plan = decideAtFiling(c.policy, ev.plan, filingVars(c, input, new Date(r.at)));
  return {
    id: `req_${++n}`,
    requester: r.as,
    resources: resources.map(() => r.resource ?? 'git:payments:release/1'),
    actions: ['push'],
    durationSeconds: 3600,
    state: 'pending',
    plan,
    createdAt: new Date(r.at).toISOString(),
    reason: input.reason,
    ticket: input.ticket,
    fields: input.fields,
  };
}
const changesOf = (next: Config, recorded: RecordedRequest[]) => Object.fromEntries(recorded.map((r) => [r.id, simulate(next, [r]).changes[0]?.changes ?? []]));

// Monday 2026-11-23: 09:30Z is 10:30 in Berlin (work hours), 18:30Z is 19:30 (after hours).
const MON_WORK = '2026-11-23T09:30:00Z';
const MON_EVENING = '2026-11-23T18:30:00Z';

describe('simulate replays automatic rules at the recorded time', () => {
  const before = config(release(LEADS));
  const inWorkHours = auto('payments-in-work-hours', 'approve', '"team" in requester.attributes && requester.attributes["team"] == "payments" && time.weekday <= 5 && time.hour >= 9 && time.hour < 18');

  it('an approve rule approves the requests filed in work hours, not the ones after hours, whatever the time now', () => {
    const day = filed(before, { as: 'alice', at: MON_WORK });
    const evening = filed(before, { as: 'alice', at: MON_EVENING });
    const s = simulate(config(release(LEADS), inWorkHours), [day, evening]);
    expect(s.summary).toMatchObject({ nowAuto: 1, nowAutoDenied: 0, otherApprovers: 0 });
    expect(s.changed).toBe(1);
    expect(s.changes[0]).toMatchObject({
      id: day.id,
      changes: ['would be auto-approved by rule payments-in-work-hours instead of reviewed'],
      before: { auto: false, automatic: null, stages: ['1 of group leads (rule release-push)'] },
      after: { auto: true, automatic: { decision: 'approve', rule: 'payments-in-work-hours', reason: null }, stages: [] },
    });
  });

  it('the requester is seen as the new config describes them', () => {
    const erin = filed(before, { as: 'erin', at: MON_WORK });
    expect(changesOf(config(release(LEADS), inWorkHours), [erin])[erin.id]).toEqual([]);
    // erin moved to the payments team in the new config
    expect(changesOf(config(release(LEADS), inWorkHours, identities('payments')), [erin])[erin.id]).toEqual(['would be auto-approved by rule payments-in-work-hours instead of reviewed']);
  });

  it('a deny rule over the recorded ticket refuses at filing, and beats an approve rule', () => {
    const ops = filed(before, { as: 'alice', at: MON_WORK, ticket: 'OPS-7' });
    const pay = filed(before, { as: 'alice', at: MON_WORK, ticket: 'PAY-7' });
    const next = config(release(LEADS), inWorkHours + auto('payments-tickets-only', 'deny', '!request.ticket.startsWith("PAY-")', 'releases need a PAY ticket'));
    const s = simulate(next, [ops, pay]);
    expect(s.summary).toMatchObject({ nowAutoDenied: 1, nowAuto: 1 });
    const by = changesOf(next, [ops, pay]);
    expect(by[ops.id]).toEqual(['would be auto-denied by rule payments-tickets-only (releases need a PAY ticket)']);
    expect(by[pay.id]).toEqual(['would be auto-approved by rule payments-in-work-hours instead of reviewed']);
  });

  it('reasons, fields and resource labels are the recorded ones and the new config\'s', () => {
    const withFields = release(LEADS, '      prompts: [{ name: incident_id, required: false }]\n');
    const old = config(withFields);
    const inc = filed(old, { as: 'erin', at: MON_WORK, fields: { incident_id: 'INC-4' }, reason: 'hotfix' });
    const plain = filed(old, { as: 'erin', at: MON_WORK, reason: 'hotfix' });
    const next = config(withFields, auto('incidents', 'approve', '"incident_id" in request.fields && request.reason == "hotfix"'));
    expect(changesOf(next, [inc, plain])).toEqual({ [inc.id]: ['would be auto-approved by rule incidents instead of reviewed'], [plain.id]: [] });
    const critical = auto('no-critical', 'deny', 'resources.exists(r, "tier" in r.labels && r.labels["tier"] == "critical")');
    expect(changesOf(config(withFields, critical), [plain])[plain.id]).toEqual([]);
    expect(changesOf(config(withFields, critical, identities('billing', '{ owner: payments, tier: critical }')), [plain])[plain.id]).toEqual(['would be auto-denied by rule no-critical']);
  });

  it('on-call is who was on call at the recorded time', () => {
    const oncallApproves = auto('oncall-self', 'approve', '"payments-lead" in oncall && requester.name in oncall["payments-lead"]');
    const onShift = filed(before, { as: 'olga', at: MON_WORK });
    const offShift = filed(before, { as: 'olga', at: '2026-11-20T09:30:00Z' });
    expect(changesOf(config(release(LEADS), oncallApproves), [onShift, offShift])).toEqual({
      [onShift.id]: ['would be auto-approved by rule oncall-self instead of reviewed'],
      [offShift.id]: [],
    });
  });

  it('a request an automatic rule denied, and would not now, says what it would be instead', () => {
    const strict = config(release(LEADS), auto('no-evenings', 'deny', 'time.hour >= 18'));
    const evening = filed(strict, { as: 'erin', at: MON_EVENING });
    expect(evening.plan.automatic).toMatchObject({ decision: 'deny', rule: 'no-evenings' });
    const s = simulate(before, [evening]);
    expect(s.summary.noLongerAutoDenied).toBe(1);
    expect(s.changes[0]!.changes).toEqual(['would no longer be auto-denied by rule no-evenings: it would be reviewed']);
    expect(simulate(strict, [evening]).changed).toBe(0);
  });

  it('break-glass requests skip the automatic rules, then and now', () => {
    const rules = `${release(LEADS)}
    - name: emergency
      who: { groups: [eng] }
      resources: ["git:payments"]
      actions: [push]
      max_duration: 1h
      break_glass: true`;
    const used = filed(config(rules), { as: 'erin', at: MON_EVENING, breakGlass: true });
    expect(used.plan).toMatchObject({ breakGlass: true, auto: true, automatic: null });
    expect(simulate(config(rules, auto('deny-all', 'deny', 'true')), [used]).changed).toBe(0);
    // the same request, filed the usual way, would be denied
    expect(simulate(config(rules, auto('deny-all', 'deny', 'true')), [filed(config(rules), { as: 'erin', at: MON_EVENING })]).summary.nowAutoDenied).toBe(1);
  });
});

describe('simulate replays conditional stages at the recorded time, in the policy\'s zone', () => {
  const before = config(release(LEADS));
  const after = config(release(LEADS + ONCALL_AFTER_HOURS));

  it('requests filed after hours would need the on-call stage; those in work hours would not', () => {
    const day = filed(before, { as: 'erin', at: MON_WORK });
    const evening = filed(before, { as: 'erin', at: MON_EVENING });
    const s = simulate(after, [day, evening]);
    expect(s.summary.otherApprovers).toBe(1);
    expect(s.changes.map((c) => c.id)).toEqual([evening.id]);
    expect(s.changes[0]!.changes).toEqual(['would also need 1 of on-call payments-lead (rule release-push)']);
    expect(s.changes[0]!.after.stages).toEqual(['1 of group leads (rule release-push)', '1 of on-call payments-lead (rule release-push)']);
  });

  it('across daylight saving: 16:30Z is 18:30 in Berlin in July, 17:30 in November', () => {
    const july = filed(before, { as: 'erin', at: '2026-07-06T16:30:00Z' });
    const november = filed(before, { as: 'erin', at: '2026-11-23T16:30:00Z' });
    expect(changesOf(after, [july, november])).toEqual({ [july.id]: ['would also need 1 of on-call payments-lead (rule release-push)'], [november.id]: [] });
  });

  it('dropping the condition\'s stage is a change too, and the same policy changes nothing', () => {
    const evening = filed(after, { as: 'erin', at: MON_EVENING });
    expect(changesOf(before, [evening])[evening.id]).toEqual(['would no longer need 1 of on-call payments-lead (rule release-push)']);
    expect(simulate(after, [evening, filed(after, { as: 'erin', at: MON_WORK })]).changed).toBe(0);
  });
});

describe('simulate: what the new policy would refuse at filing', () => {
  it('a ticket the new rule requires, or no longer matches', () => {
    const old = config(release(LEADS));
    const none = filed(old, { as: 'erin', at: MON_WORK });
    const ops = filed(old, { as: 'erin', at: MON_WORK, ticket: 'OPS-1' });
    const next = config(release(LEADS, '      ticket: { required: true, pattern: "^PAY-[0-9]+$" }\n'));
    const s = simulate(next, [none, ops]);
    expect(s.summary.newlyRefused).toBe(2);
    expect(s.changes.map((c) => c.changes)).toEqual([
      ['would be refused: ticket: a ticket is required (rule release-push)'],
      ['would be refused: ticket: "OPS-1" does not match the required ticket pattern ^PAY-[0-9]+$'],
    ]);
  });

  it('fields the new policy no longer asks for are not held against the request; a newly required one is', () => {
    const old = config(release(LEADS, '      prompts: [{ name: incident_id, required: false }]\n'));
    const inc = filed(old, { as: 'erin', at: MON_WORK, fields: { incident_id: 'INC-4' } });
    expect(simulate(config(release(LEADS)), [inc]).changed).toBe(0);
    const required = config(release(LEADS, '      prompts: [{ name: change_id, required: true }]\n'));
    expect(changesOf(required, [inc])[inc.id]).toEqual(['would be refused: fields: change_id is required: add --field change_id=...']);
  });

  it('a requester disabled in the new config', () => {
    const old = config(release(LEADS));
    const r = filed(old, { as: 'erin', at: MON_WORK });
    const next = config(release(LEADS), '', identities().replace('erin: { groups: [eng], attributes: { team: billing } }', 'erin: { groups: [eng], attributes: { team: billing }, disabled: true }'));
    expect(changesOf(next, [r])[r.id]).toEqual(['would be refused: erin is disabled in the new config']);
  });
});

// Approval chains: stages in order, N of M, approvers from distinct teams.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const config = readFileSync(EXAMPLE_CONFIG, 'utf8')
  .replace('  dave: {', '  lena: { groups: [leads], attributes: { team: payments } }\n  pia: { groups: [leads], attributes: { team: payments } }\n  dave: {')
  .replace(
    '      approval: { groups: [leads], count: 1 }\n',
    [
      '      approval:',
      '        stages:',
      '          - { groups: [leads], count: 1 }',
      '          - { groups: [leads, security], count: 2, distinct: team }',
      '',
    ].join('\n'),
  );

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('distinct: team');
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

describe('approval stages', () => {
  it('stage 1 first, then two approvers from distinct teams; only then a grant', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/5', '-a', 'push', '--reason', 'release 5'], { as: 'alice' });
    expect(req.approvals.map((a: any) => [a.count, a.distinct, a.have])).toEqual([
      [1, null, 0],
      [2, 'team', 0],
    ]);
    const early = await ajar.cli(['approve', req.id], { as: 'carol' });
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('stage 1 (1 of group leads) must approve first; you approve at stage 2');

    expect((await ajar.json(['approve', req.id], { as: 'bob' })).request.state).toBe('pending');
    expect((await ajar.json(['approve', req.id], { as: 'lena' })).request.state).toBe('pending');
    const sameTeam = await ajar.cli(['approve', req.id], { as: 'pia' });
    expect(sameTeam.code).toBe(2);
    expect(sameTeam.stderr).toContain('needs approvers with distinct team: lena already approved for team payments');
    // bob already counted for stage 1: approving again changes nothing
    expect((await ajar.json(['approve', req.id], { as: 'bob' })).changed).toBe(false);

    const done = await ajar.json(['approve', req.id], { as: 'carol' });
    expect(done.request).toMatchObject({ state: 'approved', grantId: expect.stringMatching(/^grt_/) });
    expect(done.request.approvals.map((a: any) => a.have)).toEqual([1, 2]);
    expect((await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/5'])).code).toBe(0);
  });

  it('any approver of any stage may veto', async () => {
    const req = await ajar.json(['request', '-r', 'git:payments:release/6', '-a', 'push', '--reason', 'release 6'], { as: 'erin' });
    const veto = await ajar.json(['deny', req.id, '--reason', 'security review pending'], { as: 'carol' });
    expect(veto.request).toMatchObject({ state: 'denied', decidedBy: 'carol' });
  });

  it('explain lists each stage with who can approve it', async () => {
    const e = await ajar.json(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/7'], { as: 'alice' });
    expect(e.stages.map((s: any) => [s.count, s.distinct, s.approvers, s.satisfiable])).toEqual([
      [1, null, ['bob', 'lena', 'pia'], true],
      [2, 'team', ['bob', 'carol', 'lena', 'pia'], true],
    ]);
  });
});

describe('narrowing on approval', () => {
  it('an approver may shorten the grant and keep fewer actions or narrower resources, never widen', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:release/*', '-a', 'push', '-d', '2h', '--reason', 'release train'], { as: 'erin' });
    const wider = await ajar.cli(['approve', r.id, '-d', '3h'], { as: 'bob' });
    expect(wider.code).toBe(2);
    expect(wider.stderr).toContain('never lengthen it');
    const other = await ajar.cli(['approve', r.id, '-a', 'force-push'], { as: 'bob' });
    expect(other.stderr).toContain('never add force-push');
    const outside = await ajar.cli(['approve', r.id, '-r', 'git:payments:main'], { as: 'bob' });
    expect(outside.stderr).toContain('is not inside what was requested');

    const ok = await ajar.json(['approve', r.id, '-d', '30m', '-r', 'git:payments:release/8'], { as: 'bob' });
    expect(ok.request).toMatchObject({ state: 'pending', durationSeconds: 1800, resources: ['git:payments:release/8'] });
    await ajar.json(['approve', r.id], { as: 'lena' });
    const done = await ajar.json(['approve', r.id], { as: 'carol' });
    const g = await ajar.json(['grants', done.request.grantId]);
    expect(g.resources).toEqual(['git:payments:release/8']);
    expect(new Date(g.endsAt).getTime() - new Date(g.startsAt).getTime()).toBe(1800_000);
    expect((await ajar.cli(['check', '--user', 'erin', '--action', 'push', '--resource', 'git:payments:release/9'])).code).toBe(1);
    const narrowed = await ajar.json(['audit', '--type', 'request.narrowed']);
    expect(narrowed.at(-1)).toMatchObject({ actor: 'bob', requestId: r.id, details: { to: { durationSeconds: 1800, resources: ['git:payments:release/8'] } } });
  });
});

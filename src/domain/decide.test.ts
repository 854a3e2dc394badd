import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, requestCommand } from './decide.js';
import { effectiveGrantState, GRANT_STATES, type GrantView } from './grant.js';
import { parseResource, type Resource } from './resource.js';

const res = (t: string): Resource => {
  const p = parseResource(t);
  if (!p.ok) throw new Error(p.error);
  return p.value;
};
const T = new Date('2026-11-23T10:00:00Z');
const at = (s: number) => new Date(T.getTime() + s * 1000);

const grant = (over: Partial<GrantView> = {}): GrantView => ({
  id: 'grt_1',
  subject: 'alice',
  resources: [res('git:payments:release/*')],
  actions: ['push'],
  startsAt: T,
  endsAt: at(3600),
  maxUses: null,
  uses: 0,
  state: 'active',
  ...over,
});
const q = (over: Partial<{ subject: string; action: string; resource: Resource }> = {}) => ({ subject: 'alice', action: 'push', resource: res('git:payments:release/1'), ...over });

describe('decide', () => {
  it('allows inside the window, with the grant and its end', () => {
    expect(decide([grant()], q(), T)).toEqual({ allow: true, grantId: 'grt_1', expiresAt: at(3600), usesLeft: null });
    expect(decide([grant()], q(), at(3599)).allow).toBe(true);
  });

  it('allows at the very start of the window: at == startsAt', () => {
    expect(decide([grant({ startsAt: at(600), state: 'scheduled' })], q(), at(600)).allow).toBe(true);
    expect(decide([grant({ startsAt: at(600), state: 'active' })], q(), at(600)).allow).toBe(true);
  });

  it('denies at the very end of the window: at == endsAt', () => {
    expect(decide([grant()], q(), at(3600)).allow).toBe(false);
    expect(decide([grant()], q(), new Date(at(3600).getTime() - 1)).allow).toBe(true);
  });

  it('never allows once the window has ended, whatever state was stored', () => {
    for (const state of ['active', 'scheduled'] as const) {
      const d = decide([grant({ state })], q(), at(7200));
      expect(d.allow, state).toBe(false);
      expect(effectiveGrantState(grant({ state }), at(7200)), state).toBe('expired');
    }
  });

  it('a grant past its end never allows, for any stored state (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...GRANT_STATES), fc.integer({ min: 0, max: 10 * 86400 }), fc.option(fc.integer({ min: 1, max: 5 }), { nil: null }), (state, after, maxUses) => {
        const g = grant({ state, maxUses, uses: 0 });
        return decide([g], q(), new Date(g.endsAt.getTime() + after * 1000)).allow === false;
      }),
    );
  });

  it('a scheduled grant denies and the reason names its start', () => {
    const d = decide([grant({ id: 'grt_later', startsAt: at(600), state: 'scheduled' })], q(), T);
    expect(d).toEqual({
      allow: false,
      reason: `no active grant for push on git:payments:release/1: grant grt_later starts at ${at(600).toISOString()}`,
      request: 'ajar request --resource git:payments:release/1 --action push --duration 1h --reason "..."',
    });
  });

  it('a grant stored as active but not yet started denies as scheduled', () => {
    const d = decide([grant({ startsAt: at(600), state: 'active' })], q(), T);
    expect(d).toMatchObject({ allow: false, reason: expect.stringContaining(`starts at ${at(600).toISOString()}`) });
  });

  it('of several scheduled grants, the reason names the one that starts first', () => {
    const d = decide([grant({ id: 'late', startsAt: at(1200), state: 'scheduled' }), grant({ id: 'soon', startsAt: at(300), state: 'scheduled' })], q(), T);
    expect(d).toMatchObject({ allow: false, reason: expect.stringContaining(`grant soon starts at ${at(300).toISOString()}`) });
  });

  it('revoked, released, consumed and expired grants never allow, even inside their window', () => {
    for (const state of ['revoked', 'released', 'consumed', 'expired'] as const) {
      expect(decide([grant({ state })], q(), T).allow, state).toBe(false);
      expect(decide([grant({ state })], q(), at(1800)).allow, state).toBe(false);
      expect(effectiveGrantState(grant({ state }), at(1800)), state).toBe(state);
    }
  });

  it('a use-bound grant whose uses reached its maximum is consumed', () => {
    expect(effectiveGrantState(grant({ maxUses: 2, uses: 2 }), T)).toBe('consumed');
    expect(effectiveGrantState(grant({ maxUses: 2, uses: 3 }), T)).toBe('consumed');
    expect(effectiveGrantState(grant({ maxUses: 2, uses: 1 }), T)).toBe('active');
    expect(decide([grant({ maxUses: 2, uses: 2 })], q(), T).allow).toBe(false);
    expect(decide([grant({ maxUses: 2, uses: 1 })], q(), T)).toMatchObject({ allow: true, usesLeft: 1 });
  });

  it('a grant for another subject or action never allows', () => {
    for (const over of [{ subject: 'erin' }, { subject: 'Alice' }, { action: 'force-push' }, { action: 'delete' }]) {
      expect(decide([grant()], q(over), T).allow, JSON.stringify(over)).toBe(false);
    }
  });

  it('a grant for other resources never allows', () => {
    for (const resource of ['git:payments:release-x', 'git:payments:release/1/2', 'git:payments:main', 'git:billing:release/1', 'hg:payments:release/1']) {
      expect(decide([grant()], q({ resource: res(resource) }), T).allow, resource).toBe(false);
    }
  });

  it('a grant on a whole repository allows every branch of it', () => {
    expect(decide([grant({ resources: [res('git:payments')] })], q({ resource: res('git:payments:anything/at/all') }), T).allow).toBe(true);
  });

  it('a deny carries the exact ajar request command, with the resource in its short form', () => {
    const d = decide([], q({ resource: res('git:payments:refs/heads/release/1') }), T);
    expect(d).toEqual({
      allow: false,
      reason: 'no active grant for push on git:payments:release/1',
      request: 'ajar request --resource git:payments:release/1 --action push --duration 1h --reason "..."',
    });
    expect(decide([], q({ action: 'deploy', resource: res('env:payments:production') }), T)).toMatchObject({
      request: 'ajar request --resource env:payments:production --action deploy --duration 1h --reason "..."',
    });
  });

  it('the suggested command does not hand a branch name to the shell unquoted', () => {
    // `x;$(id)|y` is a valid Git branch name (git check-ref-format --branch accepts it)
    // and a valid scope; pasted as printed, the shell would run `id`.
    const cmd = requestCommand('push', res('git:payments:x;$(id)|y'));
    expect(cmd).toContain('git:payments:x;');
    expect(cmd).not.toContain('--resource git:payments:x;$(id)|y ');
  });

  it('prefers a grant not counted per use, then the one that lasts longest', () => {
    const once = grant({ id: 'once', maxUses: 1, endsAt: at(7200) });
    const short = grant({ id: 'short', endsAt: at(600) });
    const long = grant({ id: 'long', endsAt: at(1800) });
    expect(decide([once, short, long], q(), T)).toMatchObject({ allow: true, grantId: 'long' });
    expect(decide([long, short, once], q(), T)).toMatchObject({ allow: true, grantId: 'long' });
    expect(decide([once, short], q(), T)).toMatchObject({ allow: true, grantId: 'short', usesLeft: null });
    expect(decide([once], q(), T)).toMatchObject({ allow: true, grantId: 'once', usesLeft: 1 });
  });

  it('of two use-bound grants, it takes the one that lasts longest', () => {
    const a = grant({ id: 'a', maxUses: 3, uses: 1, endsAt: at(600) });
    const b = grant({ id: 'b', maxUses: 1, endsAt: at(1200) });
    expect(decide([a, b], q(), T)).toMatchObject({ allow: true, grantId: 'b', usesLeft: 1 });
  });

  it('an active grant wins over a scheduled one', () => {
    const later = grant({ id: 'later', startsAt: at(600), endsAt: at(9000), state: 'scheduled' });
    expect(decide([later, grant()], q(), T)).toMatchObject({ allow: true, grantId: 'grt_1' });
  });

  it('whenever it allows, the grant is the subject\'s, for the action and resource, and active at that time (property)', () => {
    const arbGrant: fc.Arbitrary<GrantView> = fc.record({
      id: fc.constantFrom('g1', 'g2', 'g3'),
      subject: fc.constantFrom('alice', 'erin'),
      resources: fc.constantFrom<Resource[]>([res('git:payments:release/*')], [res('git:payments')], [res('git:payments:main')]),
      actions: fc.constantFrom<string[]>(['push'], ['force-push'], ['push', 'delete']),
      startsAt: fc.integer({ min: -3600, max: 3600 }).map(at),
      endsAt: fc.integer({ min: -3600, max: 7200 }).map(at),
      maxUses: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
      uses: fc.integer({ min: 0, max: 3 }),
      state: fc.constantFrom(...GRANT_STATES),
    });
    fc.assert(
      fc.property(fc.array(arbGrant, { maxLength: 5 }), fc.integer({ min: -3600, max: 7200 }), (grants, s) => {
        const now = at(s);
        const d = decide(grants, q(), now);
        if (!d.allow) return true;
        return grants.some(
          (g) =>
            g.id === d.grantId &&
            g.endsAt.getTime() === d.expiresAt.getTime() &&
            g.subject === 'alice' &&
            g.actions.includes('push') &&
            effectiveGrantState(g, now) === 'active' &&
            now >= g.startsAt &&
            now < g.endsAt &&
            (g.maxUses === null || g.uses < g.maxUses),
        );
      }),
      { numRuns: 2000 },
    );
  });
});

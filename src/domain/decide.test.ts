import { describe, expect, it } from 'vitest';
import { decide } from './decide.js';
import { effectiveGrantState, type GrantView } from './grant.js';
import { parseResource, type Resource } from './resource.js';

const res = (t: string): Resource => (parseResource(t) as { ok: true; value: Resource }).value;
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

  it('never allows once the window has ended, whatever state was stored', () => {
    const d = decide([grant({ state: 'active' })], q(), at(3600));
    expect(d.allow).toBe(false);
    expect(effectiveGrantState(grant(), at(3600))).toBe('expired');
  });

  it('a scheduled grant denies and says when it starts', () => {
    const d = decide([grant({ startsAt: at(600), state: 'scheduled' })], q(), T);
    expect(d).toMatchObject({ allow: false, reason: expect.stringContaining(`starts at ${at(600).toISOString()}`) });
    expect(decide([grant({ startsAt: at(600), state: 'scheduled' })], q(), at(600)).allow).toBe(true);
  });

  it('revoked, released, consumed and expired grants never allow', () => {
    for (const state of ['revoked', 'released', 'consumed', 'expired'] as const) expect(decide([grant({ state })], q(), T).allow, state).toBe(false);
    expect(decide([grant({ maxUses: 2, uses: 2 })], q(), T).allow).toBe(false);
    expect(effectiveGrantState(grant({ maxUses: 2, uses: 2 }), T)).toBe('consumed');
  });

  it('denies another subject, action or resource, and says exactly how to ask', () => {
    for (const over of [{ subject: 'erin' }, { action: 'force-push' }, { resource: res('git:payments:release-x') }, { resource: res('git:payments:main') }]) {
      const d = decide([grant()], q(over), T);
      expect(d.allow, JSON.stringify(over)).toBe(false);
    }
    const d = decide([], q({ resource: res('git:payments:refs/heads/release/1') }), T);
    expect(d).toEqual({
      allow: false,
      reason: 'no active grant for push on git:payments:release/1',
      request: 'ajar request --resource git:payments:release/1 --action push --duration 1h --reason "..."',
    });
  });

  it('prefers a grant not counted per use, then the one that lasts longest', () => {
    const once = grant({ id: 'once', maxUses: 1, endsAt: at(7200) });
    const short = grant({ id: 'short', endsAt: at(600) });
    const long = grant({ id: 'long', endsAt: at(1800) });
    expect(decide([once, short, long], q(), T)).toMatchObject({ allow: true, grantId: 'long' });
    expect(decide([once], q(), T)).toMatchObject({ allow: true, grantId: 'once', usesLeft: 1 });
  });
});

// Revoke now: one grant, every grant on a resource, everything of a user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
});
afterAll(() => ajar?.stop());

const check = (user: string, action: string, resource: string) => ajar.cli(['check', '--user', user, '--action', action, '--resource', resource]);

describe('revoking access now', () => {
  it('an admin revokes one grant; the holder cannot, and the decision changes at once', async () => {
    const r = await ajar.json(['request', '-r', 'git:payments:feature/a', '-a', 'push', '--reason', 'x'], { as: 'alice' });
    const holder = await ajar.cli(['revoke', r.grantId], { as: 'alice' });
    expect(holder.code).toBe(2);
    expect(holder.stderr).toContain('needs an Ajar admin');
    const g = await ajar.json(['revoke', r.grantId, '--reason', 'suspicious push'], { as: 'carol' });
    expect(g).toMatchObject({ state: 'revoked', endedBy: 'carol', endReason: 'suspicious push' });
    expect((await check('alice', 'push', 'git:payments:feature/a')).code).toBe(1);
  });

  it('revoke --resource ends every open grant touching the pattern, and only those', async () => {
    const a = await ajar.json(['request', '-r', 'git:payments:feature/b', '-a', 'push', '--reason', 'x'], { as: 'alice' });
    const e = await ajar.json(['request', '-r', 'git:payments', '-a', 'read', '--reason', 'x'], { as: 'erin' });
    const h = await ajar.json(['request', '-r', 'hg:billing', '-a', 'read', '--reason', 'x'], { as: 'erin' });
    const out = await ajar.json(['revoke', '--resource', 'git:payments', '--reason', 'incident 42']);
    const ids = out.revoked.map((g: any) => g.id);
    expect(ids).toEqual(expect.arrayContaining([a.grantId, e.grantId]));
    expect(ids).not.toContain(h.grantId);
    expect((await check('alice', 'push', 'git:payments:feature/b')).code).toBe(1);
    expect((await check('erin', 'read', 'git:payments')).code).toBe(1);
    expect((await check('erin', 'read', 'hg:billing')).code).toBe(0);
    const audit = await ajar.json(['audit', '--type', 'admin.revoke_by_resource']);
    expect(audit.at(-1)).toMatchObject({ actor: expect.stringMatching(/^local:/), resource: 'git:payments', reason: 'incident 42' });
  });

  it('disabling a user revokes every grant, cancels every pending request and refuses their token everywhere', async () => {
    const token = await ajar.token('erin');
    const g = await ajar.json(['request', '-r', 'git:payments:feature/c', '-a', 'push', '--reason', 'x'], { as: 'erin' });
    const p = await ajar.json(['request', '-r', 'git:payments:release/9', '-a', 'push', '--reason', 'x'], { as: 'erin' });
    const out = await ajar.json(['user', 'disable', 'erin', '--reason', 'left the company']);
    expect(out).toMatchObject({ changed: true, requests: 1 });
    expect(out.grants).toBeGreaterThanOrEqual(1);
    expect((await check('erin', 'push', 'git:payments:feature/c')).code).toBe(1);
    expect((await ajar.json(['requests', p.id])).state).toBe('cancelled');
    expect((await ajar.json(['grants', g.grantId])).state).toBe('revoked');
    const me = await ajar.api('GET', '/v1/whoami', { token });
    expect(me.status).toBe(401);
    expect((await ajar.cli(['whoami'], { env: { AJAR_URL: ajar.url, AJAR_TOKEN: token } })).code).toBe(2);
    // Not even a new token can be made until the user is enabled again.
    expect((await ajar.cli(['token', 'create', '--user', 'erin'])).stderr).toContain('disabled');
    // A pending request of erin cannot be approved any more either.
    expect((await ajar.cli(['approve', p.id], { as: 'bob' })).stderr).toContain('already cancelled');
    const users = await ajar.json(['user', 'list']);
    expect(users.find((u: any) => u.name === 'erin')).toMatchObject({ disabled: true });
    // Enabling again does not bring old tokens back.
    await ajar.json(['user', 'enable', 'erin']);
    expect((await ajar.api('GET', '/v1/whoami', { token })).status).toBe(401);
  });

  it('an unknown identity gets no token and no access', async () => {
    expect((await ajar.cli(['token', 'create', '--user', 'mallory'])).stderr).toContain('unknown user');
    expect((await check('mallory', 'read', 'git:payments')).code).toBe(1);
  });
});

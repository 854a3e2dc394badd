// When the policy changes under running requests and grants: block rules always
// win (pending requests are not approved, open grants end), nobody is left with a
// request no one could approve, and every decision names the policy version.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const base = readFileSync(EXAMPLE_CONFIG, 'utf8').replace('  dave: {', '  lena: { groups: [leads], attributes: { team: platform } }\n  dave: {');
const block = base.replace(
  '  rules:\n',
  ['  rules:', '    - name: freeze', '      effect: block', '      who: { groups: [eng] }', '      resources: ["git:payments:release/**", "git:payments:feature/**"]', '      actions: [push]', ''].join('\n'),
);

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar({ config: base });
});
afterAll(() => ajar?.stop());

async function reloadWith(text: string) {
  const count = async () => (await ajar.json(['audit', '--type', 'config.reloaded'])).length as number;
  const before = await count();
  writeFileSync(ajar.configFile, text);
  ajar.signal('SIGHUP');
  for (let i = 0; i < 100; i++) {
    if ((await count()) > before) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the config was not reloaded');
}
/** The grant's state once it is revoked, or after 10 s (the revocation follows the reload). */
async function grantState(id: string, as: string): Promise<string> {
  let state = '';
  for (let i = 0; i < 100 && state !== 'revoked'; i++) {
    state = (await ajar.json(['grants', id], { as })).state;
    if (state !== 'revoked') await new Promise((r) => setTimeout(r, 100));
  }
  return state;
}
const version = async () => (await ajar.json(['policy', 'explain', '--as', 'alice', '-a', 'read', '-r', 'git:payments'])).policyVersion as string;

describe('a block rule added while requests are pending and grants are open', () => {
  it('ends the open grants it covers, denies the pending requests it covers when someone approves, and leaves the rest alone', async () => {
    const feature = await ajar.json(['request', '-r', 'git:payments:feature/x', '-a', 'push', '--reason', 'work'], { as: 'alice' });
    expect(feature.state).toBe('approved');
    const read = await ajar.json(['request', '-r', 'git:payments', '-a', 'read', '--reason', 'work'], { as: 'alice' });
    const pending = await ajar.json(['request', '-r', 'git:payments:release/7', '-a', 'push', '--reason', 'release 7'], { as: 'erin' });
    expect(pending.state).toBe('pending');
    const before = await version();

    await reloadWith(block);
    const after = await version();
    expect(after).not.toBe(before);

    // The feature-branch grant is revoked by the policy, with the rule and the version in the audit log.
    expect(await grantState(feature.grantId, 'alice')).toBe('revoked');
    const revoked = (await ajar.json(['audit', '--type', 'grant.revoked'])).find((e: any) => e.grantId === feature.grantId);
    expect(revoked).toMatchObject({ actor: 'policy', reason: 'rule freeze now blocks alice from push on git:payments:feature/x', requestId: feature.id });
    expect(revoked.details.policyVersion).toBe(after);
    expect((await ajar.cli(['check', '--local', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:feature/x'])).code).toBe(1);
    // The read grant is not covered and stays.
    expect((await ajar.json(['grants', read.grantId], { as: 'alice' })).state).toBe('active');

    // Approving the pending release push now denies it, by the policy, and says why.
    const approve = await ajar.cli(['approve', pending.id], { as: 'bob' });
    expect(approve.code).not.toBe(0);
    expect(approve.stderr).toContain('the policy changed since this request was filed: rule freeze blocks erin from push on git:payments:release/7');
    const r = await ajar.json(['requests', pending.id], { as: 'erin' });
    expect(r).toMatchObject({ state: 'denied', decidedBy: 'policy', grantId: null });
    const denied = (await ajar.json(['audit', '--type', 'request.denied'])).find((e: any) => e.requestId === pending.id);
    expect(denied.details).toMatchObject({ policyVersion: after, filedUnder: before });
  });

  it('a restart under a policy with a block rule applies it too', async () => {
    await reloadWith(base);
    const feature = await ajar.json(['request', '-r', 'git:payments:feature/y', '-a', 'push', '--reason', 'work'], { as: 'erin' });
    await ajar.stop();
    writeFileSync(ajar.configFile, block);
    await ajar.start();
    expect(await grantState(feature.grantId, 'erin')).toBe('revoked');
  });
});

describe('a request nobody could approve', () => {
  it('is refused at filing when the only other approver is disabled, and filed again once they are back', async () => {
    await reloadWith(base.replace('  lena: { groups: [leads], attributes: { team: platform } }\n', ''));
    await ajar.cli(['user', 'disable', 'bob', '--reason', 'on leave']);
    const r = await ajar.cli(['request', '-r', 'git:payments:release/8', '-a', 'push', '--reason', 'release 8'], { as: 'alice' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('nobody could approve this request');
    expect((await ajar.json(['requests'], { as: 'alice' })).some((x: any) => x.resources.includes('git:payments:release/8'))).toBe(false);
    const e = await ajar.json(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/8'], { as: 'alice' });
    expect(e.chain.satisfiable).toBe(false);
    await ajar.cli(['user', 'enable', 'bob']);
    expect((await ajar.json(['request', '-r', 'git:payments:release/8', '-a', 'push', '--reason', 'release 8'], { as: 'alice' })).state).toBe('pending');
  });
});

describe('every decision names the policy version it was made under', () => {
  it('approvals, grants and access checks carry it', async () => {
    await reloadWith(base);
    const v = await version();
    const req = await ajar.json(['request', '-r', 'git:payments:release/9', '-a', 'push', '--reason', 'release 9'], { as: 'alice' });
    await ajar.json(['approve', req.id], { as: 'lena' }); // bob's tokens ended when he was disabled
    await ajar.cli(['check', '--local', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/9']);
    const events = (await ajar.json(['audit', '--user', 'alice'])).filter((e: any) => e.requestId === req.id || e.type === 'access.checked');
    for (const type of ['request.created', 'request.reviewed', 'request.approved', 'grant.created', 'access.checked']) {
      const e = events.filter((x: any) => x.type === type).at(-1);
      expect(e, type).toBeDefined();
      expect(e.details.policyVersion, type).toBe(v);
    }
  });
});

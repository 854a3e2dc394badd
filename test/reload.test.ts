// The config is reloaded without a restart; a bad file keeps the old one.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar, until } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
});
afterAll(() => ajar?.stop());

const maxFor = async () => (await ajar.json(['policy', 'explain', '--as', 'alice', '-a', 'push', '-r', 'git:payments:release/1'])).maxDurationSeconds;

describe('config reload', () => {
  it('SIGHUP applies a changed policy at once, audits it, and new requests carry the new version', async () => {
    expect(await maxFor()).toBe(7200);
    const before = (await ajar.json(['request', '-r', 'git:payments:release/1', '-a', 'push', '--reason', 'x'], { as: 'alice' })).policyVersion;
    const text = readFileSync(ajar.configFile, 'utf8');
    writeFileSync(ajar.configFile, text.replace('default_duration: 1h\n      max_duration: 2h', 'default_duration: 1h\n      max_duration: 3h'));
    ajar.signal('SIGHUP');
    expect(await until(maxFor, (v) => v === 10800)).toBe(10800);
    const after = (await ajar.json(['request', '-r', 'git:payments:release/2', '-a', 'push', '-d', '3h', '--reason', 'x'], { as: 'alice' })).policyVersion;
    expect(after).not.toBe(before);
    const events = await ajar.json(['audit', '--type', 'config.reloaded']);
    expect(events.at(-1).details).toMatchObject({ policyVersionBefore: before, policyVersion: after });
  });

  it('a bad new file keeps the running config and logs why', async () => {
    const good = readFileSync(ajar.configFile, 'utf8');
    writeFileSync(ajar.configFile, good.replace('approval: auto', 'approval: maybe'));
    ajar.signal('SIGHUP');
    const log = await until(async () => ajar.serverLog(), (l) => l.includes('the running config stays in force'));
    expect(log).toContain('the running config stays in force');
    expect(log).toContain('approval');
    expect(await maxFor()).toBe(10800);
    expect((await ajar.json(['request', '-r', 'git:payments:feature/z', '-a', 'push', '--reason', 'x'], { as: 'alice' })).state).toBe('approved');
  });

  it('a file changed on disk is picked up without a signal', async () => {
    const text = readFileSync(ajar.configFile, 'utf8').replace('approval: maybe', 'approval: auto');
    writeFileSync(ajar.configFile, text.replace('default_duration: 1h\n      max_duration: 3h', 'default_duration: 1h\n      max_duration: 90m'));
    expect(await until(maxFor, (v) => v === 5400)).toBe(5400);
  });
});

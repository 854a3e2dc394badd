// State survives a restart; the embedded database refuses a second process.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, CLI, isPostgres, startAjar } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
});
afterAll(() => ajar?.stop());

describe('restart and the data directory', () => {
  it('a restart keeps requests, grants, tokens and the audit chain', async () => {
    const pending = await ajar.json(['request', '-r', 'git:payments:release/2', '-a', 'push', '--reason', 'survive'], { as: 'alice' });
    const granted = await ajar.json(['request', '-r', 'git:payments:feature/r', '-a', 'push', '--reason', 'survive'], { as: 'alice' });
    const before = await ajar.json(['audit']);
    await ajar.stop();
    await ajar.start();
    expect((await ajar.json(['requests', pending.id], { as: 'alice' })).state).toBe('pending');
    expect((await ajar.json(['grants', granted.grantId], { as: 'alice' })).state).toBe('active');
    // The same token still works, and an approval after the restart completes the request.
    const ok = await ajar.json(['approve', pending.id], { as: 'bob' });
    expect(ok.request.state).toBe('approved');
    const after = await ajar.json(['audit']);
    expect(after.slice(0, before.length)).toEqual(before);
    expect((await ajar.cli(['audit', 'verify'])).code).toBe(0);
  });

  it(isPostgres() ? 'a second server on the same PostgreSQL database runs alongside the first' : 'a second process is refused the embedded database with a clear error', async () => {
    const second = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
      env: { ...process.env, AJAR_DATA_DIR: ajar.dataDir, AJAR_CONFIG: ajar.configFile, DATABASE_URL: ajar.databaseUrl ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    second.stdout.on('data', (d) => (out += d));
    second.stderr.on('data', (d) => (out += d));
    const result = await new Promise<string>((ok) => {
      second.once('exit', (code) => ok(`exit ${code}`));
      second.stdout.on('data', () => {
        if (out.includes('ajar listening on')) ok('listening');
      });
    });
    if (isPostgres()) {
      expect(result).toBe('listening');
      second.kill('SIGTERM');
    } else {
      expect(result).toBe('exit 2');
      expect(out).toContain(`the embedded database in ${ajar.dataDir} is in use by process`);
      expect(out).toContain('DATABASE_URL');
      // The first server did not notice.
      expect((await ajar.api('GET', '/healthz')).status).toBe(200);
    }
  });

  it('a lock left by a process that died is taken over, and released on stop', async () => {
    await ajar.stop();
    if (!isPostgres()) expect(existsSync(join(ajar.dataDir, 'ajar.lock'))).toBe(false);
    writeFileSync(join(ajar.dataDir, 'ajar.lock'), '999999\n');
    await ajar.start();
    expect((await ajar.api('GET', '/healthz')).status).toBe(200);
  });
});

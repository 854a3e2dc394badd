// Pipeline secrets: stored encrypted, released only through an active
// read-secrets grant, never in logs or the audit log.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, CLI, run, startAjar } from './support/ajar.js';
import { gitConfig, policyRules, tempDir } from './support/git.js';

let a: Ajar;
const VALUE = `pa ss'word "${randomBytes(6).toString('hex')}" $HOME`;
const configWith = (secrets: Record<string, unknown>) =>
  gitConfig((doc) => {
    doc.set('secrets', secrets);
    const rules = policyRules(doc);
    rules.push({ name: 'pipeline-secrets', who: { service_accounts: ['deployer'] }, resources: ['env:payments:production'], actions: ['read-secrets'], max_duration: '30m', approval: 'auto' });
    doc.setIn(['policy', 'rules'], rules);
  });
const config = configWith({ key_env: 'AJAR_TEST_SECRETS_KEY' });

beforeAll(async () => {
  a = await startAjar({ config, serverEnv: { AJAR_TEST_SECRETS_KEY: randomBytes(32).toString('base64') } });
});
afterAll(() => a?.stop());

describe('pipeline secrets', () => {
  it('an admin stores a secret from standard input; only names are listed', async () => {
    const set = await a.cli(['secret', 'set', 'env:payments:production', 'DB_PASSWORD'], { stdin: `${VALUE}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect((await a.cli(['secret', 'set', 'env:payments:production', 'API_KEY'], { stdin: 'k-123' })).code).toBe(0);
    const list = await a.json(['secret', 'list', 'env:payments:production']);
    expect(list.map((s: any) => s.name)).toEqual(['API_KEY', 'DB_PASSWORD']);
    expect(JSON.stringify(list)).not.toContain('k-123');
    // Not for anyone else to set.
    expect((await a.cli(['secret', 'set', 'env:payments:production', 'X'], { as: 'alice', stdin: 'v' })).stderr).toContain('needs an Ajar admin');
  });

  it('a pipeline gets them only with an active read-secrets grant, ready for eval', async () => {
    const no = await a.cli(['secret', 'get', 'env:payments:production'], { as: 'deployer' });
    expect(no.code).not.toBe(0);
    expect(no.stderr).toContain('no active grant for read-secrets on env:payments:production');
    const req = await a.json(['request', '--resource', 'env:payments:production', '--action', 'read-secrets', '--duration', '10m', '--reason', 'deploy'], { as: 'deployer' });
    const got = await a.cli(['secret', 'get', 'env:payments:production'], { as: 'deployer' });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stderr).toBe('');
    const read = (await a.json(['audit', '--local', '--type', 'secret.read'])).at(-1);
    expect(read).toMatchObject({ subject: 'deployer', grantId: req.grantId, requestId: req.id });
    // On GitHub Actions the runner is asked to mask each value first (standard error; standard output is for eval).
    const masked = await a.cli(['secret', 'get', 'env:payments:production', 'API_KEY', '--format', 'value'], { as: 'deployer', env: { GITHUB_ACTIONS: 'true' } });
    expect(masked).toMatchObject({ code: 0, stdout: 'k-123', stderr: '::add-mask::k-123\n' });
    // What the CI job does with it: eval in a shell gives back the exact value.
    const echoed = execFileSync('bash', ['-c', `${got.stdout}\nprintf %s "$DB_PASSWORD"`], { encoding: 'utf8' });
    expect(echoed).toBe(VALUE);
    const one = await a.cli(['secret', 'get', 'env:payments:production', 'API_KEY', '--format', 'value'], { as: 'deployer' });
    expect(one.stdout).toBe('k-123');
    // alice has no grant there.
    expect((await a.cli(['secret', 'get', 'env:payments:production'], { as: 'alice' })).code).not.toBe(0);
    // The grant ends: no more secrets.
    a.advance(601);
    expect((await a.cli(['secret', 'get', 'env:payments:production'], { as: 'deployer' })).code).not.toBe(0);
    a.advance(-601);
  });

  it('values are in no log, no audit event and not in the database in the clear', async () => {
    const events = await a.json(['audit', '--local', '--type', 'secret.*']);
    expect(events.map((e: any) => e.type)).toContain('secret.read');
    expect(events.find((e: any) => e.type === 'secret.read').details.names).toEqual(['API_KEY', 'DB_PASSWORD']);
    expect(JSON.stringify(events)).not.toContain('k-123');
    expect(a.serverLog()).not.toContain('k-123');
    expect(a.serverLog()).not.toContain(VALUE);
    await a.stop();
    const rows = await a.sql('select sealed from secrets');
    await a.start();
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      // Sealed with the key's id, for rotation.
      expect(r.sealed).toMatch(/^v2\.[0-9a-f]{16}\./);
      expect(r.sealed).not.toContain('k-123');
    }
  });

  it('a wrong key is a clear error that reveals nothing; a missing or malformed key stops the server at start', async () => {
    if (a.databaseUrl) {
      const other = await startAjar({ config, shareDatabaseOf: a, serverEnv: { AJAR_TEST_SECRETS_KEY: randomBytes(32).toString('base64') } });
      try {
        await other.json(['request', '--resource', 'env:payments:production', '--action', 'read-secrets', '--duration', '10m', '--reason', 'deploy'], { as: 'deployer' });
        const r = await other.cli(['secret', 'get', 'env:payments:production'], { as: 'deployer' });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/the secret env:payments:production\/\w+ was sealed with key [0-9a-f]{16}, which is not configured/);
        expect(r.stderr).not.toContain('k-123');
      } finally {
        await other.stop();
      }
    }
    for (const [key, problem] of [['short', 'AJAR_TEST_SECRETS_KEY must hold 32 random bytes in base64'], [undefined, 'AJAR_TEST_SECRETS_KEY must hold 32 random bytes in base64']] as const) {
      const dir = tempDir('secrets-bad-');
      writeFileSync(join(dir, 'ajar.yaml'), config);
      const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: '', AJAR_CONFIG: join(dir, 'ajar.yaml'), AJAR_TEST_SECRETS_KEY: key };
      if (key === undefined) delete env.AJAR_TEST_SECRETS_KEY;
      const r = await run(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data')], env);
      expect(r.code).toBe(2);
      expect(r.stdout).not.toContain('listening');
      expect(r.stderr).toContain(problem);
    }
  });

  it('a new key takes over with the old one kept for reading, until reseal seals everything with the new one', async () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const b = await startAjar({ config, serverEnv: { AJAR_TEST_SECRETS_KEY: oldKey } });
    try {
      await b.cli(['secret', 'set', 'env:payments:production', 'DB_PASSWORD'], { stdin: 'before-rotation' });
      await b.stop();
      writeFileSync(b.configFile, configWith({ key_env: 'AJAR_TEST_SECRETS_KEY_NEW', old_key_envs: ['AJAR_TEST_SECRETS_KEY'] }));
      const rotated = { AJAR_TEST_SECRETS_KEY: oldKey, AJAR_TEST_SECRETS_KEY_NEW: newKey };
      await b.start(rotated);
      await b.json(['request', '--resource', 'env:payments:production', '--action', 'read-secrets', '--duration', '10m', '--reason', 'deploy'], { as: 'deployer' });
      const get = () => b.cli(['secret', 'get', 'env:payments:production', 'DB_PASSWORD', '--format', 'value'], { as: 'deployer' });
      expect((await get()).stdout).toBe('before-rotation');
      const reseal = await b.json(['secret', 'reseal']);
      expect(reseal.resealed).toBe(1);
      expect((await b.json(['secret', 'reseal'])).resealed).toBe(0);
      // The old key can go now.
      await b.stop();
      writeFileSync(b.configFile, configWith({ key_env: 'AJAR_TEST_SECRETS_KEY_NEW' }));
      await b.start({ AJAR_TEST_SECRETS_KEY_NEW: newKey });
      expect((await get()).stdout).toBe('before-rotation');
      const ev = (await b.json(['audit', '--local', '--type', 'secret.resealed']))[0];
      expect(ev.details).toMatchObject({ count: 1, keyId: reseal.keyId, names: ['env:payments:production/DB_PASSWORD'] });
    } finally {
      await b.stop();
    }
  });
});

// Pipeline secrets: stored encrypted, released only through an active
// read-secrets grant, never in logs or the audit log.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';
import { gitConfig, policyRules } from './support/git.js';

let a: Ajar;
const VALUE = `pa ss'word "${randomBytes(6).toString('hex')}" $HOME`;
const config = gitConfig((doc) => {
  doc.set('secrets', { key_env: 'AJAR_TEST_SECRETS_KEY' });
  const rules = policyRules(doc);
  rules.push({ name: 'pipeline-secrets', who: { service_accounts: ['deployer'] }, resources: ['env:payments:production'], actions: ['read-secrets'], max_duration: '30m', approval: 'auto' });
  doc.setIn(['policy', 'rules'], rules);
});

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
    await a.json(['request', '--resource', 'env:payments:production', '--action', 'read-secrets', '--duration', '10m', '--reason', 'deploy'], { as: 'deployer' });
    const got = await a.cli(['secret', 'get', 'env:payments:production'], { as: 'deployer' });
    expect(got.code, got.stderr).toBe(0);
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
      expect(r.sealed).toMatch(/^v1\./);
      expect(r.sealed).not.toContain('k-123');
    }
  });

  it('a wrong key, or none, is a clear error that reveals nothing', async () => {
    const other = await startAjar({ config, shareDatabaseOf: a.databaseUrl ? a : undefined, serverEnv: { AJAR_TEST_SECRETS_KEY: randomBytes(32).toString('base64') } });
    try {
      if (a.databaseUrl) {
        await other.json(['request', '--resource', 'env:payments:production', '--action', 'read-secrets', '--duration', '10m', '--reason', 'deploy'], { as: 'deployer' });
        const r = await other.cli(['secret', 'get', 'env:payments:production'], { as: 'deployer' });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('cannot be decrypted with the configured key');
        expect(r.stderr).not.toContain('k-123');
      }
      const none = await startAjar({ config, serverEnv: { AJAR_TEST_SECRETS_KEY: 'short' } });
      try {
        const r = await none.cli(['secret', 'set', 'env:payments:production', 'X'], { stdin: 'v' });
        expect(r.stderr).toContain('AJAR_TEST_SECRETS_KEY must hold 32 random bytes in base64');
      } finally {
        await none.stop();
      }
    } finally {
      await other.stop();
    }
  });
});

// When Ajar cannot decide, the answer is never "allow".
import { describe, expect, it } from 'vitest';
import { CLI, isPostgres, run, startAjar } from './support/ajar.js';

describe('fail closed', () => {
  it(isPostgres() ? 'a database that goes away mid-run gives 503 and check exits 2' : 'an unreachable PostgreSQL at start is a clear error and nothing listens', async () => {
    if (!isPostgres()) {
      const r = await run(process.execPath, [CLI, 'serve', '--port', '0'], {
        ...process.env,
        DATABASE_URL: 'postgres://ajar:secret-password@127.0.0.1:9/ajar',
        AJAR_CONFIG: 'examples/ajar.yaml',
      });
      expect(r.code).toBe(2);
      expect(r.stdout).not.toContain('listening');
      expect(r.stderr).toContain('ECONNREFUSED');
      expect(r.stderr + r.stdout).not.toContain('secret-password');
      return;
    }
    const ajar = await startAjar();
    try {
      const r = await ajar.json(['request', '-r', 'git:payments:feature/f', '-a', 'push', '--reason', 'x'], { as: 'alice' });
      const token = await ajar.token('alice');
      const env = { AJAR_URL: ajar.url, AJAR_TOKEN: token };
      expect((await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:feature/f'], { env })).code).toBe(0);
      const name = new URL(ajar.databaseUrl!).pathname.slice(1);
      const admin = new URL(ajar.databaseUrl!);
      admin.pathname = '/postgres';
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: admin.toString() });
      await c.connect();
      await c.query(`drop database ${name} with (force)`);
      await c.end();
      const check = await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:feature/f'], { env });
      expect(check.code).toBe(2);
      expect(check.stdout).not.toContain('allow');
      expect(check.stderr).toContain('the database is unavailable');
      const api = await ajar.api('POST', '/v1/check', { token: 'ajar_whatever', body: { subject: 'alice', action: 'push', resource: 'git:payments:feature/f' } });
      expect(api.status).toBe(503);
      expect(api.body.error.code).toBe('unavailable');
      // The Git and Mercurial gateways refuse too, and say why.
      const basic = `Basic ${Buffer.from(`alice:${token}`).toString('base64')}`;
      for (const path of ['/git/payments.git/info/refs?service=git-receive-pack', '/hg/billing?cmd=capabilities']) {
        const res = await fetch(`${ajar.url}${path}`, { headers: { authorization: basic } });
        expect(res.status, path).toBe(503);
        expect(await res.text(), path).toContain('Ajar cannot decide right now');
      }
      expect(r.grantId).toBeTruthy();
    } finally {
      await ajar.stop();
    }
  });
});

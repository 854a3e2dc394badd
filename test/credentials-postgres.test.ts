// PostgreSQL credentials against the real PostgreSQL at 127.0.0.1:5432: a
// login role minted for an active grant; when the grant ends, is revoked, or
// ended while Ajar was down, the role loses its login at once, its sessions are
// killed, what it made is handed to the target role, and it is dropped.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, isPostgres, startAjar } from './support/ajar.js';
import { gitConfig, policyRules } from './support/git.js';

const ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = `ajar_orders_${process.pid}_${Date.now()}`;
const ELSEWHERE = `${DB}_other`;
let a: Ajar;

const urlOf = (db: string) => {
  const u = new URL(ADMIN);
  u.pathname = `/${db}`;
  return u.toString();
};

async function sql(text: string, params: unknown[] = [], db = DB) {
  const c = new pg.Client({ connectionString: urlOf(db) });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}
const roleExists = async (name: string) => (await sql('select 1 from pg_roles where rolname = $1', [name])).length === 1;

type Cred = { username: string; password: string; host: string; port: number; database: string; grantId: string; expiresAt: string };
async function connectAs(cred: Cred): Promise<pg.Client> {
  const c = new pg.Client({ host: cred.host, port: cred.port, database: cred.database, user: cred.username, password: cred.password });
  c.on('error', () => {});
  await c.connect();
  return c;
}
/** A new login with the credential: the error PostgreSQL gives, or 'connected'. */
async function freshLogin(cred: Cred): Promise<string> {
  try {
    await (await connectAs(cred)).end();
    return 'connected';
  } catch (e) {
    return (e as Error).message;
  }
}

function configText() {
  return gitConfig((doc) => {
    doc.set('credentials', { postgres: { 'orders-test': { admin_url_env: 'AJAR_TEST_ORDERS_ADMIN', role: 'orders_reader', connect: { host: '127.0.0.1', port: 5432, database: DB } } } });
    doc.setIn(['resources'], [...(doc.getIn(['resources']) as any).toJSON(), { id: 'postgres:orders-test' }]);
    const rules = policyRules(doc);
    rules.push({ name: 'orders-read', who: { groups: ['eng'] }, resources: ['postgres:orders-test'], actions: ['connect'], max_duration: '1h', approval: 'auto' });
    doc.setIn(['policy', 'rules'], rules);
    // The default sweep interval (1s) is what is tested.
  });
}

beforeAll(async () => {
  await sql(`create database ${DB}`, [], 'postgres');
  await sql(`create database ${ELSEWHERE}`, [], 'postgres');
  await sql(`do $$ begin if not exists (select from pg_roles where rolname = 'orders_reader') then create role orders_reader nologin; end if; end $$`);
  await sql('create table orders (id int primary key); insert into orders values (1), (2); grant select on orders to orders_reader; grant create on schema public to orders_reader');
  a = await startAjar({ config: configText(), serverEnv: { AJAR_TEST_ORDERS_ADMIN: urlOf(DB) } });
});
afterAll(async () => {
  await a?.stop();
  await sql(`drop database if exists ${ELSEWHERE} with (force)`, [], 'postgres');
  await sql(`drop database if exists ${DB} with (force)`, [], 'postgres');
});

async function until(cond: () => Promise<boolean>) {
  for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((ok) => setTimeout(ok, 50));
  expect(await cond()).toBe(true);
}

const connectGrant = (who: string, duration = '30m') =>
  a.json(['request', '--resource', 'postgres:orders-test', '--action', 'connect', '--duration', duration, '--reason', 'INC-9 data fix'], { as: who });
const credential = (who: string): Promise<Cred> => a.json(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: who });

describe('PostgreSQL credentials', () => {
  it('without a connect grant there is no role; with one, a login role that can read and ends with the grant', async () => {
    const no = await a.cli(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: 'alice' });
    expect(no.code).not.toBe(0);
    expect(no.stderr).toContain('no active grant for connect on postgres:orders-test');
    const req = await connectGrant('alice', '1h');
    const cred = await credential('alice');
    expect(cred.username).toMatch(/^ajar_[0-9a-f]{18}$/);
    expect(cred.password.length).toBeGreaterThan(20);
    const [role] = await sql('select rolcanlogin, rolvaliduntil from pg_roles where rolname = $1', [cred.username]);
    expect(role.rolcanlogin).toBe(true);
    expect(new Date(role.rolvaliduntil).toISOString()).toBe(cred.expiresAt);
    // It connects and reads, as a member of orders_reader.
    const session = await connectAs(cred);
    expect((await session.query('select count(*)::int as n from orders')).rows[0].n).toBe(2);
    // The grant ends: within seconds its session is killed and the role is gone.
    a.advance(3601);
    await until(async () => !(await roleExists(cred.username)));
    await expect(session.query('select 1')).rejects.toThrow();
    expect(await freshLogin(cred)).toContain(`role "${cred.username}" does not exist`);
    const events = await a.json(['audit', '--local', '--type', 'credential.*']);
    expect(events.map((e: any) => e.type)).toEqual(['credential.issued', 'credential.revoked']);
    expect(JSON.stringify(events)).not.toContain(cred.password);
    expect(events[1]).toMatchObject({ subject: 'alice', grantId: cred.grantId, requestId: req.id, reason: 'the grant window ended' });
  });

  it('a revoke ends the session and the login at once, and keeps what the role made, handed to the target role', async () => {
    const r = await connectGrant('erin');
    const cred = await credential('erin');
    const session = await connectAs(cred);
    await session.query('create table fix_inc9 (id int); insert into fix_inc9 values (42)');
    expect(cred.grantId).toBe(r.grantId);
    await a.json(['revoke', r.grantId, '--reason', 'done early']);
    await until(async () => !(await roleExists(cred.username)));
    // Right after the sweep: the open session is dead and a new login fails.
    await expect(session.query('select 1')).rejects.toThrow();
    expect(await freshLogin(cred)).not.toBe('connected');
    expect((await sql('select count(*)::int as n from pg_stat_activity where usename = $1', [cred.username]))[0].n).toBe(0);
    // The data fix survives the revoke, owned by the target role.
    expect(await sql("select tableowner from pg_tables where tablename = 'fix_inc9'")).toEqual([{ tableowner: 'orders_reader' }]);
    expect(await sql('select id from fix_inc9')).toEqual([{ id: 42 }]);
    const events = await a.json(['audit', '--local', '--type', 'credential.revoked', '--user', 'erin']);
    expect(events[0]).toMatchObject({ reason: 'the grant was revoked', grantId: r.grantId, requestId: r.id });
  });

  it('an end that passed while Ajar was down is applied at start', async () => {
    await connectGrant('erin');
    const second = await credential('erin');
    await a.stop();
    a.advance(31 * 60);
    expect(await roleExists(second.username)).toBe(true);
    await a.start();
    await until(async () => !(await roleExists(second.username)));
  });

  it('a role that cannot be dropped still loses its login at once, and is dropped once what held it is gone', async () => {
    const r = await connectGrant('alice');
    const cred = await credential('alice');
    // The role owns a table in another database: DROP ROLE fails there.
    await sql('create table held (id int)', [], ELSEWHERE);
    await sql(`alter table held owner to ${cred.username}`, [], ELSEWHERE);
    expect(cred.grantId).toBe(r.grantId);
    await a.json(['revoke', r.grantId]);
    await until(async () => (await sql('select rolcanlogin from pg_roles where rolname = $1', [cred.username]))[0]?.rolcanlogin === false);
    const [role] = await sql('select rolvaliduntil from pg_roles where rolname = $1', [cred.username]);
    expect(new Date(role.rolvaliduntil).getTime()).toBeLessThanOrEqual(Date.now());
    expect(await freshLogin(cred)).toContain('not permitted to log in');
    expect(a.serverLog()).toContain('could not take back every credential; will retry');
    expect((await a.json(['audit', '--local', '--type', 'credential.revoked', '--user', 'alice'])).filter((e: any) => e.details.role === cred.username)).toEqual([]);
    // The blocker is gone: the next attempt (after its backoff) drops the role.
    await sql('drop table held', [], ELSEWHERE);
    a.advance(10);
    await until(async () => !(await roleExists(cred.username)));
    await until(async () => (await a.json(['audit', '--local', '--type', 'credential.revoked', '--user', 'alice'])).some((e: any) => e.details.role === cred.username));
  });

  it('an extended grant moves its role\'s VALID UNTIL to the new end', async () => {
    const r = await connectGrant('erin', '10m');
    const cred = await credential('erin');
    const extended = await a.json(['extend', r.grantId, '--duration', '1h', '--reason', 'the fix takes longer'], { as: 'erin' });
    expect(extended.state).toBe('approved');
    const grant = await a.json(['grants', r.grantId], { as: 'erin' });
    expect(grant.endsAt).not.toBe(cred.expiresAt);
    await until(async () => new Date((await sql('select rolvaliduntil from pg_roles where rolname = $1', [cred.username]))[0].rolvaliduntil).toISOString() === grant.endsAt);
    const ev = (await a.json(['audit', '--local', '--type', 'credential.extended', '--user', 'erin'])).at(-1);
    expect(ev).toMatchObject({ grantId: r.grantId, details: { role: cred.username, from: cred.expiresAt, to: grant.endsAt } });
    // Past the old end the role still logs in, as the grant still allows.
    a.advance(11 * 60);
    try {
      expect(await freshLogin(cred)).toBe('connected');
    } finally {
      a.advance(-11 * 60);
    }
  });

  it('credentials stuck on a target Ajar cannot reach do not hold up the others', async () => {
    // 600 ended grants whose roles sit on a target no longer configured: more than one batch.
    const now = a.now().toISOString();
    const stuck = Array.from({ length: 600 }, (_, i) => `s${i}`);
    const rows = (f: (n: string) => string) => stuck.map(f).join(', ');
    const insert = `
      insert into access_requests (id, requester, resources, actions, duration_seconds, reason, state, plan, policy_version, created_at, expires_at)
        values ${rows((n) => `('req_${n}', 'alice', '["postgres:gone"]', '["connect"]', 60, 'x', 'approved', '{}', 'x', '${now}', '${now}')`)};
      insert into grants (id, request_id, subject, resources, actions, starts_at, ends_at, state, auto_approved, created_at)
        values ${rows((n) => `('grt_${n}', 'req_${n}', 'alice', '["postgres:gone"]', '["connect"]', '2020-01-01T00:00:00Z', '2020-01-01T01:00:00Z', 'expired', true, '${now}')`)};
      insert into credentials (id, grant_id, subject, kind, target, name, issued_at, expires_at)
        values ${rows((n) => `('crd_${n}', 'grt_${n}', 'alice', 'postgres-role', 'postgres:gone', 'ajar_${n}', '2020-01-01T00:00:00Z', '2020-01-01T01:00:00Z')`)};`;
    if (!isPostgres()) await a.stop();
    await a.sql(insert);
    if (!isPostgres()) await a.start();
    await connectGrant('alice');
    const cred = await credential('alice');
    await a.json(['revoke', cred.grantId]);
    await until(async () => !(await roleExists(cred.username)));
    expect(a.serverLog()).toContain('no credentials.postgres.gone in the config any more');
  });

  // Several processes share only PostgreSQL (the embedded database admits one process).
  if (isPostgres()) it('two processes sweeping the same database take each credential back, and expire each grant, once', async () => {
    const other = await startAjar({ config: configText(), shareDatabaseOf: a, clock: a.now().toISOString(), serverEnv: { AJAR_TEST_ORDERS_ADMIN: urlOf(DB) } });
    try {
      const names: string[] = [];
      const grants = new Set<string>();
      for (const who of ['alice', 'erin']) {
        await connectGrant(who, '20m');
        for (let i = 0; i < 5; i++) {
          const c = await credential(who);
          names.push(c.username);
          grants.add(c.grantId);
        }
      }
      // Past the end of every grant these were made for (an earlier test extended one to an hour).
      a.advance(2 * 3600);
      other.setClock(a.now());
      await until(async () => (await sql('select count(*)::int as n from pg_roles where rolname = any($1)', [names]))[0].n === 0);
      const revoked = (await a.json(['audit', '--local', '--type', 'credential.revoked'])).filter((e: any) => names.includes(e.details.role));
      expect(revoked).toHaveLength(names.length);
      await until(async () => (await a.json(['audit', '--local', '--type', 'grant.expired'])).filter((e: any) => grants.has(e.grantId)).length >= grants.size);
      const expired = (await a.json(['audit', '--local', '--type', 'grant.expired'])).filter((e: any) => grants.has(e.grantId));
      expect(expired.map((e: any) => e.grantId).sort()).toEqual([...grants].sort());
    } finally {
      await other.stop();
    }
  });
});

// PostgreSQL credentials against the real PostgreSQL at 127.0.0.1:5432: a
// login role minted for an active grant, its sessions killed and the role
// dropped when the grant ends, is revoked, or ended while Ajar was down.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, isPostgres, startAjar } from './support/ajar.js';
import { gitConfig, policyRules } from './support/git.js';

const ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = `ajar_orders_${process.pid}_${Date.now()}`;
let a: Ajar;

async function sql(text: string, params: unknown[] = [], db = DB) {
  const u = new URL(ADMIN);
  u.pathname = `/${db}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}
const roleExists = async (name: string) => (await sql('select 1 from pg_roles where rolname = $1', [name])).length === 1;

function configText(sweep: string) {
  return gitConfig((doc) => {
    doc.set('credentials', { postgres: { 'orders-test': { admin_url_env: 'AJAR_TEST_ORDERS_ADMIN', role: 'orders_reader', connect: { host: '127.0.0.1', port: 5432, database: DB } } } });
    doc.setIn(['resources'], [...(doc.getIn(['resources']) as any).toJSON(), { id: 'postgres:orders-test' }]);
    const rules = policyRules(doc);
    rules.push({ name: 'orders-read', who: { groups: ['eng'] }, resources: ['postgres:orders-test'], actions: ['connect'], max_duration: '1h', approval: 'auto' });
    doc.setIn(['policy', 'rules'], rules);
    doc.set('workers', { sweep_interval: sweep });
  });
}

beforeAll(async () => {
  await sql(`create database ${DB}`, [], 'postgres');
  await sql(`do $$ begin if not exists (select from pg_roles where rolname = 'orders_reader') then create role orders_reader nologin; end if; end $$`);
  await sql('create table orders (id int primary key); insert into orders values (1), (2); grant select on orders to orders_reader');
  const u = new URL(ADMIN);
  u.pathname = `/${DB}`;
  a = await startAjar({ config: configText('1s'), serverEnv: { AJAR_TEST_ORDERS_ADMIN: u.toString() } });
});
afterAll(async () => {
  await a?.stop();
  await sql(`drop database if exists ${DB} with (force)`, [], 'postgres');
});

async function until(cond: () => Promise<boolean>) {
  for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((ok) => setTimeout(ok, 50));
  expect(await cond()).toBe(true);
}

describe('PostgreSQL credentials', () => {
  it('without a connect grant there is no role; with one, a login role that can read and ends with the grant', async () => {
    const no = await a.cli(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: 'alice' });
    expect(no.code).not.toBe(0);
    expect(no.stderr).toContain('no active grant for connect on postgres:orders-test');
    await a.json(['request', '--resource', 'postgres:orders-test', '--action', 'connect', '--duration', '1h', '--reason', 'INC-9 data fix'], { as: 'alice' });
    const cred = await a.json(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: 'alice' });
    expect(cred.username).toMatch(/^ajar_[0-9a-f]{18}$/);
    expect(cred.password.length).toBeGreaterThan(20);
    const [role] = await sql('select rolcanlogin, rolvaliduntil from pg_roles where rolname = $1', [cred.username]);
    expect(role.rolcanlogin).toBe(true);
    expect(new Date(role.rolvaliduntil).toISOString()).toBe(cred.expiresAt);
    // It connects and reads, as a member of orders_reader.
    const session = new pg.Client({ host: cred.host, port: cred.port, database: cred.database, user: cred.username, password: cred.password });
    await session.connect();
    expect((await session.query('select count(*)::int as n from orders')).rows[0].n).toBe(2);
    session.on('error', () => {});
    // The grant ends: within seconds its session is killed and the role is gone.
    a.advance(3601);
    await until(async () => !(await roleExists(cred.username)));
    await expect(session.query('select 1')).rejects.toThrow();
    const events = await a.json(['audit', '--local', '--type', 'credential.*']);
    expect(events.map((e: any) => e.type)).toEqual(['credential.issued', 'credential.revoked']);
    expect(JSON.stringify(events)).not.toContain(cred.password);
    expect(events[1]).toMatchObject({ subject: 'alice', grantId: cred.grantId, reason: 'the grant window ended' });
  });

  it('a revoked grant takes its role with it, and an end that passed while Ajar was down is applied at start', async () => {
    const r = await a.json(['request', '--resource', 'postgres:orders-test', '--action', 'connect', '--duration', '30m', '--reason', 'x'], { as: 'erin' });
    const first = await a.json(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: 'erin' });
    await a.json(['revoke', r.grantId, '--reason', 'done early']);
    await until(async () => !(await roleExists(first.username)));
    const events = await a.json(['audit', '--local', '--type', 'credential.revoked', '--user', 'erin']);
    expect(events[0].reason).toBe('the grant was revoked');

    await a.json(['request', '--resource', 'postgres:orders-test', '--action', 'connect', '--duration', '30m', '--reason', 'y'], { as: 'erin' });
    const second = await a.json(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: 'erin' });
    await a.stop();
    a.advance(31 * 60);
    expect(await roleExists(second.username)).toBe(true);
    await a.start();
    await until(async () => !(await roleExists(second.username)));
  });

  // Several processes share only PostgreSQL (the embedded database admits one process).
  if (isPostgres()) it('two processes sweeping the same database take each credential back once', async () => {
    const u = new URL(ADMIN);
    u.pathname = `/${DB}`;
    const other = await startAjar({ config: configText('1s'), shareDatabaseOf: a, clock: a.now().toISOString(), serverEnv: { AJAR_TEST_ORDERS_ADMIN: u.toString() } });
    try {
      const names: string[] = [];
      for (const who of ['alice', 'erin']) {
        await a.json(['request', '--resource', 'postgres:orders-test', '--action', 'connect', '--duration', '20m', '--reason', 'z'], { as: who });
        for (let i = 0; i < 5; i++) names.push((await a.json(['credentials', 'postgres', '--target', 'postgres:orders-test'], { as: who })).username);
      }
      a.advance(21 * 60);
      other.setClock(a.now());
      await until(async () => (await sql('select count(*)::int as n from pg_roles where rolname = any($1)', [names]))[0].n === 0);
      const revoked = (await a.json(['audit', '--local', '--type', 'credential.revoked'])).filter((e: any) => names.includes(e.details.role));
      expect(revoked).toHaveLength(names.length);
    } finally {
      await other.stop();
    }
  });
});

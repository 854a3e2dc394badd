// The audit log: every change is an event, the chain detects tampering, and it
// exports as JSONL and CSV.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, startAjar } from './support/ajar.js';

let ajar: Ajar;
beforeAll(async () => {
  ajar = await startAjar();
  const r = await ajar.json(['request', '-r', 'git:payments:release/1', '-a', 'push', '--reason', 'audit me, "quoted", =cmd'], { as: 'alice' });
  await ajar.json(['approve', r.id, '--reason', 'fine'], { as: 'bob' });
  await ajar.cli(['check', '--user', 'alice', '--action', 'push', '--resource', 'git:payments:release/1']);
  await ajar.cli(['check', '--user', 'erin', '--action', 'push', '--resource', 'git:payments:release/1']);
  await ajar.json(['request', '-r', 'hg:billing', '-a', 'read', '--reason', 'read billing'], { as: 'dave' });
});
afterAll(() => ajar?.stop());

describe('what the audit log holds', () => {
  it('records requests, reviews, grants, decisions and admin actions with who, what and why', async () => {
    const events = await ajar.json(['audit', '--user', 'alice']);
    const types = events.map((e: any) => e.type);
    expect(types).toEqual(expect.arrayContaining(['token.created', 'request.created', 'request.reviewed', 'request.approved', 'grant.created', 'access.checked']));
    const created = events.find((e: any) => e.type === 'grant.created');
    expect(created).toMatchObject({ actor: 'bob', subject: 'alice', resource: 'git:payments:release/1', action: 'push', reason: 'audit me, "quoted", =cmd' });
    expect(created.details.endsAt).toBeTruthy();
    const checks = (await ajar.json(['audit', '--type', 'access.checked', '--resource', 'git:payments:release/*'])).map((e: any) => [e.subject, e.outcome]);
    expect(checks).toEqual([
      ['alice', 'allow'],
      ['erin', 'deny'],
    ]);
    expect(await ajar.json(['audit', '--resource', 'hg:billing', '--type', 'grant.created'])).toHaveLength(1);
    expect(await ajar.json(['audit', '--since', '2030-01-01T00:00:00Z'])).toEqual([]);
  });

  it('exports JSONL and CSV that round-trip the events', async () => {
    const all = await ajar.json(['audit']);
    const jsonl = await ajar.cli(['audit', '--format', 'jsonl']);
    const lines = jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(all);
    const csv = await ajar.cli(['audit', '--format', 'csv']);
    const rows = csv.stdout.trim().split('\n');
    expect(rows[0]).toBe('seq,id,at,type,actor,subject,resource,action,requestId,grantId,outcome,reason,details,prevHash,hash');
    expect(rows).toHaveLength(all.length + 1);
    // Every cell is quoted, quotes are doubled, commas stay inside the cell.
    expect(csv.stdout).toContain('"audit me, ""quoted"", =cmd"');
    const r = await ajar.api('GET', '/v1/audit?format=csv', { as: 'alice' });
    expect(r.status).toBe(403);
  });

  it('the log is append-only for the application', async () => {
    if (ajar.databaseUrl) {
      await expect(ajar.sql(`update audit_events set reason = 'x' where seq = 1`)).rejects.toThrow(/append-only/);
      await expect(ajar.sql('delete from audit_events where seq = 1')).rejects.toThrow(/append-only/);
    } else {
      await ajar.stop();
      await expect(ajar.sql(`update audit_events set reason = 'x' where seq = 1`)).rejects.toThrow(/append-only/);
      await ajar.start();
    }
  });
});

describe('ajar audit verify', () => {
  // Tampering is done the way an attacker with database access would: around the trigger.
  async function tampered(statements: string[]) {
    await ajar.stop();
    await ajar.sql(['alter table audit_events disable trigger audit_events_no_change', ...statements, 'alter table audit_events enable trigger audit_events_no_change'].join(';\n'));
    return ajar.cli(['audit', 'verify']); // no server: the CLI opens the database itself
  }

  it('exits 0 on an intact chain', async () => {
    const r = await ajar.cli(['audit', 'verify']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/audit chain intact: \d+ event\(s\)/);
  });

  it('names the first bad event when one is edited, deleted, reordered or cut from the end', async () => {
    const events = await ajar.json(['audit']);
    const e4 = events[3];
    const last = events.at(-1);

    const edit = await tampered([`update audit_events set reason = 'nothing to see' where seq = 4`]);
    expect(edit.code).toBe(1);
    expect(edit.stdout).toContain(`BROKEN at event #4 (${e4.id})`);
    expect(edit.stdout).toContain('was modified');
    await tampered([`update audit_events set reason = ${e4.reason === null ? 'null' : `'${e4.reason}'`} where seq = 4`]);
    expect((await ajar.cli(['audit', 'verify'])).code).toBe(0);

    const del = await tampered(['create table saved as select * from audit_events where seq = 5', 'delete from audit_events where seq = 5']);
    expect(del.code).toBe(1);
    expect(del.stdout).toContain('BROKEN at event #5');
    expect(del.stdout).toContain('missing');
    await tampered(['insert into audit_events select * from saved', 'drop table saved']);
    expect((await ajar.cli(['audit', 'verify'])).code).toBe(0);

    const swap = await tampered([
      'update audit_events set seq = -6 where seq = 6',
      'update audit_events set seq = 6 where seq = 7',
      'update audit_events set seq = 7 where seq = -6',
    ]);
    expect(swap.code).toBe(1);
    expect(swap.stdout).toContain('BROKEN at event #6');
    await tampered(['update audit_events set seq = -6 where seq = 6', 'update audit_events set seq = 6 where seq = 7', 'update audit_events set seq = 7 where seq = -6']);
    expect((await ajar.cli(['audit', 'verify'])).code).toBe(0);

    const cut = await tampered([`delete from audit_events where seq = ${last.seq}`]);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toContain('deleted from the end');
    await ajar.start();
  });
});

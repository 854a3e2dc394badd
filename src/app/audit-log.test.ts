import { describe, expect, it } from 'vitest';
import { type AuditEvent, canonicalJson, eventHash } from './audit-log.js';
import { toCsv, toJsonl } from './audit-query.js';

const event = (over: Partial<AuditEvent> = {}): AuditEvent => {
  const base = {
    seq: 1,
    id: 'evt_1',
    at: '2026-11-23T09:00:00.000Z',
    type: 'grant.created',
    actor: 'bob',
    subject: 'alice',
    resource: 'git:payments:release/1',
    action: 'push',
    requestId: 'req_1',
    grantId: 'grt_1',
    outcome: null,
    reason: 'hotfix',
    details: { b: 1, a: [1, { y: 2, x: 1 }] },
    prevHash: '0'.repeat(64),
    ...over,
  };
  return { ...base, hash: eventHash(base) };
};

describe('canonical JSON and event hashes', () => {
  it('orders object keys, so the same content always hashes the same', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 0 }] } })).toBe('{"a":{"c":[3,{"e":0,"f":1}],"d":2},"b":1}');
    expect(eventHash(event({ details: { x: 1, y: 2 } }))).toBe(eventHash(event({ details: { y: 2, x: 1 } })));
  });

  it('changes when any field changes, including the previous hash', () => {
    const h = event().hash;
    for (const over of [{ seq: 2 }, { reason: 'other' }, { actor: 'eve' }, { prevHash: '1'.repeat(64) }, { details: { b: 2, a: [] } }, { at: '2026-11-23T09:00:00.001Z' }]) {
      expect(event(over as Partial<AuditEvent>).hash, JSON.stringify(over)).not.toBe(h);
    }
  });
});

describe('exports', () => {
  it('CSV quotes every cell, doubles quotes and neutralises spreadsheet formulas', () => {
    const csv = toCsv([event({ reason: '=HYPERLINK("http://x")', actor: '+cmd', subject: 'a,b' })]);
    const [header, row] = csv.trim().split('\n');
    expect(header).toBe('seq,id,at,type,actor,subject,resource,action,requestId,grantId,outcome,reason,details,prevHash,hash');
    expect(row).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(row).toContain(`"'+cmd"`);
    expect(row).toContain('"a,b"');
    expect(toCsv([event()], false).split('\n')[0]).toMatch(/^"1","evt_1"/);
  });

  it('JSONL is one parseable event per line', () => {
    const lines = toJsonl([event(), event({ seq: 2, id: 'evt_2' })]).trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l).id)).toEqual(['evt_1', 'evt_2']);
  });
});

import { describe, expect, it } from 'vitest';
import type { RequestDto } from '../app/views.js';
import { FIELD_LIMIT, fit, requestBlocks, requestText, TEXT_LIMIT } from './render.js';

const request = (over: Partial<RequestDto> = {}): RequestDto => ({
  id: 'req_abc',
  requester: 'alice',
  resources: ['git:payments:release/1'],
  actions: ['push'],
  duration: '1h',
  durationSeconds: 3600,
  startAt: null,
  maxUses: null,
  reason: 'ship it',
  ticket: null,
  fields: {},
  state: 'pending',
  rules: ['release-push'],
  autoApproved: false,
  approvals: [{ rule: 'release-push', groups: ['leads'], users: [], count: 1, have: 0 }],
  reviews: [],
  grantId: null,
  extendsGrantId: null,
  artifact: null,
  policyVersion: 'v',
  createdAt: '2026-11-23T09:00:00.000Z',
  expiresAt: '2026-11-24T09:00:00.000Z',
  decidedAt: null,
  decidedBy: null,
  decisionReason: null,
  ...over,
});

/** Every text object in the blocks, with the limit Slack sets for it. */
function texts(blocks: any[]): { text: string; limit: number }[] {
  const out: { text: string; limit: number }[] = [];
  for (const b of blocks) {
    if (b.text) out.push({ text: b.text.text, limit: TEXT_LIMIT });
    for (const f of b.fields ?? []) out.push({ text: f.text, limit: FIELD_LIMIT });
    for (const e of b.type === 'context' ? b.elements : []) out.push({ text: e.text, limit: TEXT_LIMIT });
  }
  return out;
}

describe('Block Kit limits', () => {
  // 2000 characters (the longest reason Ajar takes) that each escape to 4 or 5.
  const reason = '&<>'.repeat(667).slice(0, 2000);

  it('a 2000-character reason full of &<> fits every text within Slack\'s limits, cut with an ellipsis, never inside an entity', () => {
    const denied = request({ reason, ticket: `T-${'&'.repeat(1990)}`, state: 'denied', decidedBy: 'bob', decisionReason: reason, resources: Array.from({ length: 40 }, (_, i) => `git:payments:release/<${i}>&x`) });
    const blocks = requestBlocks(denied, `Reminder: ${reason}`) as any[];
    const all = texts(blocks);
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const { text, limit } of all) {
      expect(text.length).toBeLessThanOrEqual(limit);
      // no raw markup from the request, and no entity cut in half
      expect(text.replace(/&(amp|lt|gt);/g, '')).not.toMatch(/[&<>]/);
    }
    const why = blocks.find((b) => b.type === 'section' && b.text?.text.includes('*Why:*'));
    expect(why.text.text.length).toBeGreaterThan(TEXT_LIMIT - 6); // as much as fits: at most a cut entity less
    expect(why.text.text.endsWith('…')).toBe(true);
    const outcome = blocks.at(-1);
    expect(outcome.text.text).toMatch(/^\*Denied by bob: &amp;&lt;&gt;.*…\*$/);
  });

  it('the full reason stays in the plain text (email), unescaped and whole', () => {
    const text = requestText(request({ reason }));
    expect(text).toContain(reason);
  });

  it('short texts are left alone, and a cut never splits a surrogate pair', () => {
    expect(fit('short', 10)).toBe('short');
    expect(fit('&amp;&amp;', 10)).toBe('&amp;&amp;');
    expect(fit('ab&amp;cd', 6)).toBe('ab…');
    const emoji = `a${'😀'.repeat(5)}`;
    expect(fit(emoji, 4)).toBe('a😀…');
    const cut = fit(emoji, 3); // the cut falls inside the first emoji
    expect(cut).toBe('a…');
    expect(() => encodeURIComponent(cut)).not.toThrow();
  });
});

// Rule kinds beyond who/what/how long: block rules, minimum durations, ticket
// patterns, per-rule pending TTLs — through the real CLI.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, EXAMPLE_CONFIG, startAjar } from './support/ajar.js';

const config = readFileSync(EXAMPLE_CONFIG, 'utf8')
  .replace('  dave: {', '  cora: { groups: [eng, contractors] }\n  dave: {')
  .replace('  deployers: {', '  contractors: { description: External }\n  deployers: {')
  .replace(
    '  rules:\n',
    [
      '  rules:',
      '    - name: contractors-never-release',
      '      effect: block',
      '      who: { groups: [contractors] }',
      '      resources: ["git:payments:release/**"]',
      '      actions: [push, force-push]',
      '',
    ].join('\n'),
  )
  .replace(
    '      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads], count: 1 }',
    '      default_duration: 1h\n      min_duration: 15m\n      max_duration: 2h\n      pending_ttl: 4h\n      ticket: { pattern: "^PAY-[0-9]+$" }\n      approval: { groups: [leads], count: 1 }',
  );

let ajar: Ajar;
beforeAll(async () => {
  expect(config).toContain('effect: block');
  expect(config).toContain('ticket: { pattern');
  ajar = await startAjar({ config });
});
afterAll(() => ajar?.stop());

const release = ['request', '-r', 'git:payments:release/3', '-a', 'push', '--reason', 'release 3'];

describe('rule kinds', () => {
  it('a release push needs a ticket matching the pattern', async () => {
    const none = await ajar.cli(release, { as: 'alice' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('ticket: a ticket is required (rule release-push)');
    const wrong = await ajar.cli([...release, '--ticket', 'JIRA-9'], { as: 'alice' });
    expect(wrong.stderr).toContain('"JIRA-9" does not match the required ticket pattern ^PAY-[0-9]+$');
    const ok = await ajar.json([...release, '--ticket', 'PAY-123'], { as: 'alice' });
    expect(ok).toMatchObject({ state: 'pending', ticket: 'PAY-123' });
    // and it waits for a decision for the rule's 4h, not the policy's 24h
    expect(new Date(ok.expiresAt).getTime() - new Date(ok.createdAt).getTime()).toBe(4 * 3600_000);
  });

  it('durations below the minimum are refused', async () => {
    const r = await ajar.cli([...release, '--ticket', 'PAY-1', '-d', '5m'], { as: 'alice' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('shorter than the 15m the policy requires');
  });

  it('a block rule wins over the allow rule that would otherwise apply', async () => {
    const r = await ajar.cli([...release, '--ticket', 'PAY-1'], { as: 'cora' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rule contractors-never-release blocks cora from push on git:payments:release/3');
    // cora's other access is untouched
    expect((await ajar.json(['request', '-r', 'git:payments:feature/c', '-a', 'push', '--reason', 'x'], { as: 'cora' })).state).toBe('approved');
  });

  it('explain tells the ticket rule and the minimum before anyone asks', async () => {
    const r = await ajar.cli(['policy', 'explain', '-a', 'push', '-r', 'git:payments:release/3'], { as: 'alice' });
    expect(r.stdout).toContain('at least 15m');
    expect(r.stdout).toContain('a reason and a ticket are required (ticket matching ^PAY-[0-9]+$)');
    expect(r.stdout).toContain('--ticket ...');
    const cora = await ajar.cli(['policy', 'explain', '--as', 'cora', '-a', 'push', '-r', 'git:payments:release/3']);
    expect(cora.code).toBe(1);
    expect(cora.stdout).toContain('blocks cora');
  });
});

describe('rules that cannot work are refused at load', () => {
  it('an approval count no one can meet, a bad ticket regex, a block rule with durations', async () => {
    const { parseConfig } = await import('../src/config.js');
    const problems = (text: string) => {
      try {
        parseConfig(text, 'p.yaml');
        return [];
      } catch (e) {
        return (e as { problems: string[] }).problems;
      }
    };
    expect(problems(config.replace('approval: { groups: [leads], count: 1 }', 'approval: { groups: [leads], count: 3 }')).join('\n')).toMatch(
      /p\.yaml:\d+:\d+: needs 3 approvers but only 1 can approve \(bob\); this chain can never be satisfied/,
    );
    expect(problems(config.replace('"^PAY-[0-9]+$"', '"^PAY-[0-9+$"')).join('\n')).toContain('not a valid regular expression');
    expect(problems(config.replace('      actions: [push, force-push]\n', '      actions: [push, force-push]\n      max_duration: 1h\n')).join('\n')).toContain('a block rule has no max_duration');
  });
});

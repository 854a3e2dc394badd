import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const example = readFileSync(join(import.meta.dirname, '..', 'examples', 'ajar.yaml'), 'utf8');
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'ajar.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('parseConfig', () => {
  it('reads the example: identities, admins, resources and rules', () => {
    const c = parseConfig(example, 'ajar.yaml');
    expect(c.identities.get('alice')).toMatchObject({ kind: 'user', groups: ['eng'], attributes: { team: 'payments' }, admin: false });
    expect(c.identities.get('carol')?.admin).toBe(true);
    expect(c.identities.get('deployer')?.kind).toBe('service_account');
    expect(c.resources.map((r) => r.id)).toEqual(['git:payments', 'hg:billing', 'env:payments:production']);
    expect(c.policy.rules.find((r) => r.name === 'release-push')).toMatchObject({ maxDurationSeconds: 7200, defaultDurationSeconds: 3600, approval: { stages: [{ groups: ['leads'], count: 1, distinct: null }] } });
    expect(c.policy.pendingTtlSeconds).toBe(86400);
  });

  it('points each problem at its line, and lists them all', () => {
    const bad = example
      .replace('alice: { groups: [eng]', 'alice: { groups: [engineers]')
      .replace('approval: { groups: [leads], count: 1 }', 'approval: { groups: [leeds], count: 1 }')
      .replace('- id: hg:billing', '- id: hg:billing:stable');
    const p = problems(bad);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^ajar.yaml:${lineOf(bad, 'groups: [engineers]')}:\\d+: unknown group "engineers"`)),
        expect.stringMatching(new RegExp(`^ajar.yaml:${lineOf(bad, 'groups: [leeds]')}:\\d+: unknown group "leeds"`)),
        expect.stringMatching(new RegExp(`^ajar.yaml:${lineOf(bad, 'hg:billing:stable')}:\\d+: configure the whole hg resource`)),
      ]),
    );
  });

  it('names unknown keys, bad durations and YAML errors with their line', () => {
    expect(problems(example.replace('pending_ttl: 24h', 'pending_tl: 24h'))[0]).toMatch(new RegExp(`^ajar.yaml:${lineOf(example, 'pending_ttl')}:\\d+: .*unknown key "pending_tl"`));
    expect(problems(example.replace('max_duration: 8h', 'max_duration: eight hours'))[0]).toMatch(/^ajar.yaml:\d+:\d+: policy\.rules\.1\.max_duration: write a duration like/);
    expect(problems('users:\n  alice: [\n')[0]).toMatch(/^ajar.yaml:\d+:\d+: /);
  });

  it('refuses rules that make no sense', () => {
    expect(problems(example.replace('default_duration: 1h\n      max_duration: 2h', 'default_duration: 3h\n      max_duration: 2h'))[0]).toContain('default_duration is longer than max_duration');
    expect(problems(example.replace('"git:payments:release/*"', '"git:nowhere:release/*"'))[0]).toContain('names no resource listed under resources:');
    expect(problems(example.replace('actions: [push]\n      default_duration: 1h', 'actions: [deploy]\n      default_duration: 1h')).join('\n')).toContain('action "deploy" does not apply to git resources');
    expect(problems(example.replace('  erin: {', '  deployer: {'))[0]).toContain('"deployer" is defined twice');
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyVersion } from '../app/context.js';
import { ConfigError, configJsonSchema, parseConfig } from '../config.js';
import { isPolicyDocument, readFrom, referencedFiles } from './policy-file.js';

// Identities and resources stay in the config; the policy moves to its own file.
const config = `groups: { eng: {}, leads: {} }
users:
  alice: { groups: [eng] }
  bob: { groups: [leads] }
  olga: { groups: [leads] }
resources:
  - id: git:payments
policy_file: policies/policy.yaml
`;
const policy = `timezone: Europe/Berlin
oncall_file: oncall.yml
rules:
  - name: release-push
    who: { groups: [eng] }
    resources: ["git:payments:release/*"]
    actions: [push]
    max_duration: 2h
    approval:
      stages:
        - { groups: [leads], count: 1 }
        - { oncall: [payments-lead], count: 1, when: "time.hour >= 18" }
`;
const oncall = `rotations:
  payments-lead:
    shifts:
      - { user: olga, from: "2026-11-23T00:00:00Z", to: "2026-11-30T00:00:00Z" }
`;
const files = (over: Record<string, string> = {}) => ({ '/etc/ajar/policies/policy.yaml': policy, '/etc/ajar/policies/oncall.yml': oncall, ...over });
const load = (cfg = config, over: Record<string, string> = {}) => parseConfig(cfg, '/etc/ajar/ajar.yaml', { read: readFrom(files(over)) });

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('the config was accepted');
}
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('policy_file: the policy in its own file', () => {
  it('holds what policy: would; the on-call schedule is relative to the policy file', () => {
    const c = load();
    expect(c.policyFile).toBe('/etc/ajar/policies/policy.yaml');
    expect(c.policy.timezone).toBe('Europe/Berlin');
    expect(c.policy.rules.map((r) => r.name)).toEqual(['release-push']);
    expect(c.policy.oncallFile).toBe('/etc/ajar/policies/oncall.yml');
    expect(c.policy.oncall.get('payments-lead')?.[0]?.user).toBe('olga');
  });

  it('the same policy inline has the same version; any change to the policy file changes it', () => {
    // Inline, the schedule is relative to the config: point it at the same file.
    const inline = `${config.replace('policy_file: policies/policy.yaml\n', '')}policy:\n${policy.replace('oncall_file: oncall.yml', 'oncall_file: policies/oncall.yml').replace(/^/gm, '  ')}`;
    const a = load();
    expect(policyVersion(parseConfig(inline, '/etc/ajar/ajar.yaml', { read: readFrom(files()) }))).toBe(policyVersion(a));
    const b = load(config, { '/etc/ajar/policies/policy.yaml': policy.replace('max_duration: 2h', 'max_duration: 3h') });
    expect(policyVersion(b)).not.toBe(policyVersion(a));
    const c = load(config, { '/etc/ajar/policies/oncall.yml': oncall.replace('olga', 'bob') });
    expect(policyVersion(c)).not.toBe(policyVersion(a));
  });

  it('errors in the policy file name the policy file, its line and column, and the path inside it', () => {
    const typo = policy.replace('max_duration: 2h', 'max_durration: 2h');
    expect(problems(() => load(config, { '/etc/ajar/policies/policy.yaml': typo }))).toEqual([
      `/etc/ajar/policies/policy.yaml:${lineOf(typo, 'max_durration')}:5: rules.0.max_durration: unknown key "max_durration" (remove it or fix its spelling)`,
    ]);
    const group = policy.replace('who: { groups: [eng] }', 'who: { groups: [engg] }');
    expect(problems(() => load(config, { '/etc/ajar/policies/policy.yaml': group }))).toEqual([
      expect.stringMatching(new RegExp(`^/etc/ajar/policies/policy\\.yaml:${lineOf(group, 'engg')}:\\d+: unknown group "engg"$`)),
    ]);
    const cel = policy.replace('time.hour >= 18', 'time.hours >= 18');
    expect(problems(() => load(config, { '/etc/ajar/policies/policy.yaml': cel })).join('\n')).toMatch(new RegExp(`^/etc/ajar/policies/policy\\.yaml:${lineOf(cel, 'time.hours')}:\\d+: the condition does not type-check`));
    const syntax = 'rules:\n  - name: [x\n';
    expect(problems(() => load(config, { '/etc/ajar/policies/policy.yaml': syntax }))[0]).toMatch(/^\/etc\/ajar\/policies\/policy\.yaml:\d+:\d+: /);
  });

  it('errors in the schedule name the schedule file', () => {
    const bad = oncall.replace('user: olga', 'user: nobody');
    expect(problems(() => load(config, { '/etc/ajar/policies/oncall.yml': bad }))[0]).toMatch(new RegExp(`^/etc/ajar/policies/oncall.yml:${lineOf(bad, 'nobody')}:\\d+: unknown user "nobody"$`));
  });

  it('policy: and policy_file: together are refused at policy_file', () => {
    const both = `${config}policy: { rules: [] }\n`;
    expect(problems(() => load(both))).toEqual([
      `/etc/ajar/ajar.yaml:${lineOf(both, 'policy_file')}:1: policy_file: the policy is either in this file (policy:) or in its own file (policy_file:), not both; remove one`,
    ]);
  });

  it('a policy file that cannot be read is named, with where the path is from', () => {
    expect(problems(() => load(config.replace('policies/policy.yaml', 'policies/missing.yaml')))).toEqual([
      `/etc/ajar/ajar.yaml:${lineOf(config, 'policy_file')}:14: policy_file: cannot read /etc/ajar/policies/missing.yaml (ENOENT); the path is relative to /etc/ajar/ajar.yaml`,
    ]);
  });

  it('a policy file given where a config belongs says what to give instead', () => {
    expect(problems(() => parseConfig(policy, '/etc/ajar/policies/policy.yaml'))).toEqual([
      '/etc/ajar/policies/policy.yaml: this is a policy file (rules at the top level), not a config; name it with policy_file: in a config and give that config (e.g. ajar policy check CONFIG)',
    ]);
  });

  it('a new policy file can stand in for the config\'s own policy (simulate)', () => {
    const next = policy.replace('max_duration: 2h', 'max_duration: 30m').replace('oncall_file: oncall.yml', 'oncall_file: next-oncall.yml');
    const c = parseConfig(config, '/etc/ajar/ajar.yaml', {
      read: readFrom({ '/tmp/next/next-oncall.yml': oncall }),
      policy: { text: next, file: '/tmp/next/next.yaml' },
    });
    expect(c.policy.rules[0]!.maxDurationSeconds).toBe(1800);
    expect(c.policy.oncallFile).toBe('/tmp/next/next-oncall.yml');
    expect(c.identities.has('alice')).toBe(true);
  });
});

describe('which files travel with a config or policy file', () => {
  it('a config brings its policy file and the schedule that one names', () => {
    const read = readFrom({ '/etc/ajar/ajar.yaml': config, ...files() });
    expect(referencedFiles('/etc/ajar/ajar.yaml', read)).toEqual(files());
  });

  it('a policy file brings its schedule; an inline policy its schedule, relative to the config', () => {
    expect(referencedFiles('/etc/ajar/policies/policy.yaml', readFrom(files()))).toEqual({ '/etc/ajar/policies/oncall.yml': oncall });
    const inline = `policy: { oncall_file: x/oncall.yml, rules: [] }\n`;
    expect(referencedFiles('/a/ajar.yaml', readFrom({ '/a/ajar.yaml': inline, '/a/x/oncall.yml': oncall }))).toEqual({ '/a/x/oncall.yml': oncall });
  });

  it('a file that cannot be read, or does not parse, brings nothing (loading says why)', () => {
    expect(referencedFiles('/nowhere/ajar.yaml', readFrom({}))).toEqual({});
    expect(referencedFiles('/a/ajar.yaml', readFrom({ '/a/ajar.yaml': 'policy_file: [' }))).toEqual({});
  });

  it('the example split config brings its policy file from disk', () => {
    const dir = join(import.meta.dirname, '..', '..', 'examples', 'split');
    const got = referencedFiles(join(dir, 'ajar.yaml'));
    expect(Object.keys(got)).toEqual([join(dir, 'policy.yaml'), join(dir, 'oncall.yml')]);
    expect(got[join(dir, 'policy.yaml')]).toBe(readFileSync(join(dir, 'policy.yaml'), 'utf8'));
  });
});

describe('isPolicyDocument', () => {
  it('a policy has rules or automatic at the top, and none of a config\'s keys', () => {
    expect(isPolicyDocument({ rules: [] })).toBe(true);
    expect(isPolicyDocument({ automatic: [], timezone: 'UTC' })).toBe(true);
    expect(isPolicyDocument({ users: {}, rules: [] })).toBe(false);
    expect(isPolicyDocument({ policy: { rules: [] } })).toBe(false);
    expect(isPolicyDocument({ timezone: 'UTC' })).toBe(false);
    expect(isPolicyDocument(null)).toBe(false);
    expect(isPolicyDocument([{ rules: [] }])).toBe(false);
  });
});

describe('the JSON Schema of a policy file (ajar policy schema --policy-file)', () => {
  it('is the schema of what policy: holds, strict like it', () => {
    const s = configJsonSchema('policy') as { properties: Record<string, unknown>; additionalProperties: boolean; title: string };
    expect(Object.keys(s.properties).sort()).toEqual(['automatic', 'oncall_file', 'pending_ttl', 'rules', 'timezone']);
    expect(s.additionalProperties).toBe(false);
    expect((configJsonSchema() as { properties: Record<string, unknown> }).properties).toHaveProperty('policy_file');
  });
});

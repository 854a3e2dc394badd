import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const examples = join(import.meta.dirname, '..', 'examples');
const example = readFileSync(join(examples, 'ajar.yaml'), 'utf8');
const lineOf = (text: string, needle: string) => {
  const n = text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  if (n === 0) throw new Error(`"${needle}" is not in the text`);
  return n;
};
/** Replace exactly one occurrence, so a test never edits a line it did not mean to. */
const edit = (text: string, from: string, to: string) => {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`"${from}" must occur exactly once`);
  return text.slice(0, at) + to + text.slice(at + from.length);
};

function problems(text: string): string[] {
  try {
    parseConfig(text, 'ajar.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('the config was accepted');
}

describe('parseConfig', () => {
  it('reads the example: identities, admins, resources and rules', () => {
    const c = parseConfig(example, 'ajar.yaml');
    expect(c.file).toBe('ajar.yaml');
    expect(c.server).toEqual({ host: '127.0.0.1', port: 8741, publicUrl: undefined });
    expect(c.identities.get('alice')).toEqual({ name: 'alice', kind: 'user', groups: ['eng'], attributes: { team: 'payments' }, disabled: false, admin: false });
    expect(c.identities.get('carol')?.admin).toBe(true);
    expect(c.identities.get('deployer')?.kind).toBe('service_account');
    expect([...c.groups.keys()]).toEqual(['eng', 'leads', 'security', 'qa', 'deployers']);
    expect(c.resources.map((r) => r.id)).toEqual(['git:payments', 'hg:billing', 'env:payments:production']);
    expect(c.policy.rules.map((r) => r.name)).toEqual(['release-push', 'feature-branches', 'developer-read', 'qa-read', 'billing-drafts', 'billing-stable', 'production-deploy', 'emergency-push']);
    expect(c.policy.rules.find((r) => r.name === 'release-push')).toMatchObject({ maxDurationSeconds: 7200, defaultDurationSeconds: 3600, approval: { stages: [{ groups: ['leads'], count: 1, distinct: null }] } });
    expect(c.policy.rules.find((r) => r.name === 'feature-branches')).toMatchObject({ approval: 'auto', actions: ['push', 'force-push', 'delete'] });
    expect(c.policy.rules.find((r) => r.name === 'production-deploy')).toMatchObject({ maxUses: 1, maxDurationSeconds: 1800, who: { service_accounts: ['deployer'] } });
    expect(c.policy.rules.find((r) => r.name === 'emergency-push')).toMatchObject({ breakGlass: true, maxDurationSeconds: 3600 });
    expect(c.policy.pendingTtlSeconds).toBe(86400);
    expect(c.policy.timezone).toBe('UTC');
  });

  it('reads every example config under examples/policies', () => {
    const dir = join(examples, 'policies');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.endsWith('.policy-test.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => parseConfig(readFileSync(join(dir, f), 'utf8'), join(dir, f)), f).not.toThrow();
  });

  it('an empty file is a config with nothing in it', () => {
    const c = parseConfig('', 'ajar.yaml');
    expect(c.identities.size).toBe(0);
    expect(c.policy.rules).toEqual([]);
    expect(c.server.port).toBe(8741);
  });
});

describe('parseConfig errors name file:line:col', () => {
  it('an unknown key (a typo) is reported on its line, with the fix', () => {
    const bad = edit(example, 'pending_ttl: 24h', 'pending_tll: 24h');
    expect(problems(bad)).toEqual([expect.stringMatching(new RegExp(`^ajar\\.yaml:${lineOf(bad, 'pending_tll')}:\\d+: policy\\.pending_tll: unknown key "pending_tll" \\(remove it or fix its spelling\\)$`))]);
  });

  it('an unknown key inside a rule or a flow map is reported on its line', () => {
    const inRule = edit(example, '      max_duration: 2h\n      approval: { groups: [leads], count: 1 }', '      max_durration: 2h\n      approval: { groups: [leads], count: 1 }');
    expect(problems(inRule).join('\n')).toMatch(new RegExp(`^ajar\\.yaml:${lineOf(inRule, 'max_durration')}:\\d+: policy\\.rules\\.0\\.max_durration: unknown key`, 'm'));
    const inFlow = edit(example, 'alice: { groups: [eng], attributes:', 'alice: { groups: [eng], atributes:');
    expect(problems(inFlow)).toEqual([expect.stringMatching(new RegExp(`^ajar\\.yaml:${lineOf(inFlow, 'atributes')}:\\d+: users\\.alice\\.atributes: unknown key "atributes"`))]);
  });

  it('a misspelt key whose value is a block on the next lines is reported on the key\'s own line and column', () => {
    // The value of `polcy:` starts on line 4; the mistake is the key on line 3.
    const text = 'groups:\n  eng: {}\npolcy:\n  pending_ttl: 24h\n';
    expect(problems(text)).toEqual(['ajar.yaml:3:1: polcy: unknown key "polcy" (remove it or fix its spelling)']);
  });

  it('a bad duration is reported on its line, with the path and an example', () => {
    const bad = edit(example, '      default_duration: 8h\n      max_duration: 8h\n      approval: auto\n\n    # Developers', '      default_duration: 8h\n      max_duration: eight hours\n      approval: auto\n\n    # Developers');
    expect(problems(bad)).toEqual([`ajar.yaml:${lineOf(bad, 'eight hours')}:21: policy.rules.1.max_duration: "eight hours" is not a duration; write it like 30m, 2h, 1h30m or 7d`]);
    const ttl = edit(example, 'pending_ttl: 24h', 'pending_ttl: 1 day');
    expect(problems(ttl)).toEqual([`ajar.yaml:${lineOf(ttl, 'pending_ttl')}:16: policy.pending_ttl: "1 day" is not a duration; write it like 30m, 2h, 1h30m or 7d`]);
  });

  it('a duration out of range says which way: zero, or longer than a year', () => {
    const long = edit(example, '      max_duration: 2h\n      approval: { groups: [leads], count: 1 }', '      max_duration: 400d\n      approval: { groups: [leads], count: 1 }');
    expect(problems(long)).toEqual([`ajar.yaml:${lineOf(long, '400d')}:21: policy.rules.0.max_duration: duration "400d" is longer than a year`]);
    const zero = edit(example, 'pending_ttl: 24h', 'pending_ttl: 0s');
    expect(problems(zero)).toEqual([`ajar.yaml:${lineOf(zero, 'pending_ttl')}:16: policy.pending_ttl: duration "0s" must be longer than zero`]);
  });

  it('an escalation or a reminder that could only come after the request expired is refused', () => {
    const escalate = edit(example, 'approval: { groups: [leads], count: 1 }', 'pending_ttl: 1h\n      approval: { groups: [leads], count: 1, escalate: { after: 2h, groups: [security] } }');
    const line = lineOf(escalate, 'escalate:');
    const col = escalate.split('\n')[line - 1]!.indexOf('2h') + 1;
    expect(problems(escalate)).toEqual([`ajar.yaml:${line}:${col}: a request expires after 1h (pending_ttl), before it would escalate; escalate sooner or raise pending_ttl`]);
    const remind = edit(example, 'approval: { groups: [leads], count: 1 }', 'approval: { groups: [leads], count: 1, remind_every: 3d }');
    expect(problems(remind)).toEqual([expect.stringContaining('a request expires after 24h (pending_ttl), before the first reminder')]);
  });

  it('problems in the on-call schedule and in conditions over it name the schedule\'s file:line:col', () => {
    const config = 'users: { olga: {} }\npolicy:\n  oncall_file: oc.yml\n  automatic:\n    - { name: x, decision: approve, when: "\'olga\' in oncall[\'lead\']" }\n';
    const schedule = 'rotations:\n  leads:\n    shifts:\n      - { user: olga, from: "2026-11-23T00:00:00Z", too: "2026-11-30T00:00:00Z" }\n';
    const read = (f: string) => (f.endsWith('oc.yml') ? schedule : '');
    const p = (() => {
      try {
        parseConfig(config, '/etc/ajar/ajar.yaml', { read });
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    })();
    expect(p).toEqual(['/etc/ajar/oc.yml:4:9: rotations.leads.shifts.0.to: is required', '/etc/ajar/oc.yml:4:53: rotations.leads.shifts.0.too: unknown key "too" (remove it or fix its spelling)']);
    const fixed = schedule.replace('too:', 'to:');
    const cel = (() => {
      try {
        parseConfig(config, '/etc/ajar/ajar.yaml', { read: (f) => (f.endsWith('oc.yml') ? fixed : '') });
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    })();
    expect(cel).toEqual([expect.stringMatching(/^\/etc\/ajar\/ajar\.yaml:5:\d+: .*oncall\["lead"\]: unknown on-call rotation; the schedule has leads/)]);
  });

  it('a regular expression in matches() that cannot compile is refused at load', () => {
    const bad = `${example}\n`.replace('  rules:\n', '  automatic:\n    - { name: t, decision: approve, when: \'request.ticket.matches("PAY-(")\' }\n  rules:\n');
    expect(problems(bad)).toEqual([expect.stringContaining('matches("PAY-("): not a valid regular expression')]);
  });

  it('a bad glob is one precise problem, not a cascade', () => {
    const bad = edit(example, 'resources: ["git:payments:release/*"]', 'resources: ["git:payments:release/***"]');
    expect(problems(bad)).toEqual([expect.stringContaining(`ajar.yaml:${lineOf(bad, 'release/***')}:`)]);
    expect(problems(bad)[0]).toContain('"***" means nothing');
  });

  it('an unknown group named by a user is reported on that user\'s line, at the group', () => {
    const bad = edit(example, 'erin: { groups: [eng]', 'erin: { groups: [eng, ops]');
    const line = lineOf(bad, 'eng, ops');
    const col = bad.split('\n')[line - 1]!.indexOf('ops') + 1;
    expect(problems(bad)).toEqual([`ajar.yaml:${line}:${col}: unknown group "ops"; add it under groups:`]);
  });

  it('an unknown group in block style is reported on its own line', () => {
    const text = 'groups:\n  eng: {}\nusers:\n  alice:\n    groups:\n      - eng\n      - engg\n';
    expect(problems(text)).toEqual(['ajar.yaml:7:9: unknown group "engg"; add it under groups:']);
  });

  it('a rule resource naming an unconfigured repository is reported on its line', () => {
    const bad = edit(example, 'resources: ["hg:billing:stable"]', 'resources: ["hg:ledger:stable"]');
    const line = lineOf(bad, 'hg:ledger');
    expect(problems(bad)).toEqual([expect.stringMatching(new RegExp(`^ajar\\.yaml:${line}:\\d+: "hg:ledger:stable" names no resource listed under resources:$`))]);
  });

  it('default_duration longer than max_duration is reported on the default_duration line', () => {
    const bad = edit(example, '      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads] }', '      default_duration: 3h\n      max_duration: 2h\n      approval: { groups: [leads] }');
    expect(problems(bad)).toEqual([`ajar.yaml:${lineOf(bad, 'default_duration: 3h')}:25: default_duration is longer than max_duration`]);
  });

  it('a YAML syntax error is reported on its line, before anything else is checked', () => {
    expect(problems('groups:\n  eng: {}\nusers:\n\talice: {}\n')).toEqual(['ajar.yaml:4:1: Tabs are not allowed as indentation']);
    expect(problems('groups:\n  eng: {}\n users:\n  alice: {}\n')).toEqual(['ajar.yaml:3:1: All mapping items must start at the same column']);
    const dup = 'groups:\n  eng: {}\nusers:\n  alice: { groups: [eng] }\n  alice: { groups: [eng] }\n';
    expect(problems(dup)).toEqual([expect.stringMatching(/^ajar\.yaml:5:3: Map keys must be unique/)]);
  });

  it('the file name given is the one in every message', () => {
    expect(() => parseConfig('users:\n  alice: { groups: [nope] }\n', '/etc/ajar/ajar.yaml')).toThrow(/\/etc\/ajar\/ajar\.yaml:2:\d+: unknown group "nope"/);
  });
});

describe('ConfigError', () => {
  it('lists every problem of the file, each on its own line, not only the first', () => {
    const bad = edit(
      edit(edit(example, 'erin: { groups: [eng]', 'erin: { groups: [ops]'), 'resources: ["hg:billing:stable"]', 'resources: ["hg:ledger:stable"]'),
      '      default_duration: 1h\n      max_duration: 2h\n      approval: { groups: [leads] }',
      '      default_duration: 3h\n      max_duration: 2h\n      approval: { groups: [leads] }',
    );
    let err: unknown;
    try {
      parseConfig(bad, 'ajar.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.name).toBe('ConfigError');
    expect(e.problems).toEqual([
      expect.stringContaining(`ajar.yaml:${lineOf(bad, 'groups: [ops]')}:`),
      expect.stringContaining(`ajar.yaml:${lineOf(bad, 'default_duration: 3h')}:`),
      expect.stringContaining(`ajar.yaml:${lineOf(bad, 'hg:ledger')}:`),
    ]);
    expect(e.message).toBe(`invalid config:\n  ${e.problems.join('\n  ')}`);
  });

  it('lists every schema problem too: several unknown keys and bad values at once', () => {
    const bad = edit(edit(edit(example, 'pending_ttl: 24h', 'pending_tll: 24h'), '  port: 8741', '  prot: 8741'), 'max_duration: 30m', 'max_duration: half an hour');
    const p = problems(bad);
    expect(p).toHaveLength(3);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^ajar\\.yaml:${lineOf(bad, 'prot:')}:\\d+: server\\.prot: unknown key "prot"`)),
        expect.stringMatching(new RegExp(`^ajar\\.yaml:${lineOf(bad, 'pending_tll')}:\\d+: policy\\.pending_tll: unknown key "pending_tll"`)),
        expect.stringMatching(new RegExp(`^ajar\\.yaml:${lineOf(bad, 'half an hour')}:\\d+: policy\\.rules\\.6\\.max_duration: "half an hour" is not a duration`)),
      ]),
    );
  });

  it('refuses rules that make no sense', () => {
    expect(problems(example.replace('actions: [push]\n      default_duration: 1h', 'actions: [deploy]\n      default_duration: 1h')).join('\n')).toContain('action "deploy" does not apply to git resources');
    expect(problems(example.replace('  erin: {', '  deployer: {'))[0]).toContain('"deployer" is defined twice');
    expect(problems(example.replace('- id: hg:billing', '- id: hg:billing:stable')).join('\n')).toContain('configure the whole hg resource');
    expect(problems(example.replace('approval: { groups: [leads], count: 1 }', 'approval: { groups: [leads], count: 2 }')).join('\n')).toContain('needs 2 approvers but only 1 can approve (bob)');
  });

  it('notification settings are checked: event names, url or url_env, emails, Slack ids, reminder intervals', () => {
    const both = `${example}\nnotify:\n  webhooks:\n    siem: { url: "https://siem.example.com/h", url_env: SIEM_URL, secret_env: SIEM_SECRET }\n`;
    expect(problems(both)).toEqual([expect.stringContaining('notify.webhooks.siem: give either url or url_env')]);
    const event = `${example}\nnotify:\n  webhooks:\n    siem: { url: "https://siem.example.com/h", secret_env: SIEM_SECRET, events: [grant.revokd] }\n`;
    expect(problems(event)).toEqual([expect.stringMatching(new RegExp(`ajar.yaml:${lineOf(event, 'grant.revokd')}:.*notify.webhooks.siem.events.0.*grant.revoked`))]);
    const who = problems(edit(example, 'alice: { groups: [eng], attributes: { team: payments } }', 'alice: { groups: [eng], attributes: { team: payments }, email: not-an-email, slack: alice }'));
    expect(who.some((x) => x.includes('email'))).toBe(true);
    expect(who.some((x) => x.includes('a Slack user id like U024BE7LH'))).toBe(true);
    const remind = edit(example, '      approval: { groups: [leads], count: 1 }\n', '      approval: { groups: [leads], count: 1, remind_every: 1m }\n');
    expect(problems(remind)).toEqual([expect.stringContaining(`ajar.yaml:${lineOf(remind, 'remind_every: 1m')}:`)]);
    expect(problems(remind)[0]).toContain('remind at most every 5m');
    const ok = parseConfig(edit(example, '      approval: { groups: [leads], count: 1 }\n', '      approval: { groups: [leads], count: 1, remind_every: 4h }\n'), 'ajar.yaml');
    expect(ok.policy.rules[0]!.approval).toEqual({ stages: [expect.objectContaining({ remindEverySeconds: 4 * 3600 })] });
  });
});

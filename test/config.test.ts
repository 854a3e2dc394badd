// A malformed config starts nothing and says where and how to fix it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_CONFIG, run } from './support/ajar.js';

function withConfig(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ajar-config-'));
  const file = join(dir, 'ajar.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

const example = readFileSync(EXAMPLE_CONFIG, 'utf8');
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('config validation', () => {
  it('the example config is valid', async () => {
    const r = await run(process.execPath, [CLI, 'config', 'check', EXAMPLE_CONFIG], process.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok (6 identities, 3 resources, 8 rules)');
  });

  it('serve refuses a malformed config, naming file:line:col, and never listens', async () => {
    for (const [bad, needle, messages] of [
      [example.replace('max_duration: 2h', 'max_duraton: 2h'), 'max_duraton', ['unknown key "max_duraton"']],
      [example.replace('alice: { groups: [eng]', 'alice: { groups: [engg]'), 'groups: [engg]', ['unknown group "engg"; add it under groups:']],
      [example.replace('default_duration: 1h\n      max_duration: 2h', 'default_duration: 3h\n      max_duration: 2h'), 'default_duration: 3h', ['default_duration is longer than max_duration']],
      [example.replace('"git:payments:release/*"', '"git:paymnts:release/*"'), 'git:paymnts', ['names no resource listed under resources:']],
    ] as const) {
      expect(bad).not.toBe(example);
      const { dir, file } = withConfig(bad);
      const r = await run(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data')], { ...process.env, AJAR_CONFIG: file, DATABASE_URL: '' });
      expect(r.code).toBe(2);
      expect(r.stdout).not.toContain('listening');
      expect(r.stderr).toContain(`${file}:${lineOf(bad, needle)}:`);
      for (const m of messages) expect(r.stderr).toContain(m);
    }
  });

  it('serve refuses a notify section whose secrets are not in the environment, naming the variables', async () => {
    const bad = `${example}\nnotify:\n  slack: { token_env: SLACK_BOT_TOKEN, signing_secret_env: SLACK_SIGNING_SECRET }\n  webhooks:\n    siem: { url: "https://siem.example.com/hook", secret_env: SIEM_SECRET }\n`;
    const { dir, file } = withConfig(bad);
    const env = { ...process.env, AJAR_CONFIG: file, DATABASE_URL: '', SLACK_BOT_TOKEN: 'xoxb-1', SIEM_SECRET: 'whsec_c2hvcnQ=' };
    delete env.SLACK_SIGNING_SECRET;
    const r = await run(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data')], env);
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('listening');
    expect(r.stderr).toContain('notify.slack.signing_secret_env: the environment variable SLACK_SIGNING_SECRET is not set');
    expect(r.stderr).toContain('notify.webhooks.siem.secret_env: SIEM_SECRET must hold whsec_ followed by at least 16 random bytes');
    expect(r.stderr).not.toContain('xoxb-1');
  });

  it('YAML syntax errors name the line', async () => {
    const { file } = withConfig('users:\n  alice: { groups: [eng]\n');
    const r = await run(process.execPath, [CLI, 'config', 'check', file], process.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${file}:\\d+:\\d+`));
  });

  it('a missing config file is a clear error', async () => {
    const r = await run(process.execPath, [CLI, 'serve', '--config', '/nonexistent/ajar.yaml'], process.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read the config file');
  });

  it('serve without any config says how to give one', async () => {
    const r = await run(process.execPath, [CLI, 'serve'], { ...process.env, AJAR_CONFIG: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--config FILE');
  });

  it('ajar policy check validates the same way, and ajar policy schema publishes a JSON Schema for editors', async () => {
    const { file } = withConfig(example.replace('approval: auto', 'aproval: auto'));
    const bad = await run(process.execPath, [CLI, 'policy', 'check', file, '--json'], process.env);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).problems.join('\n')).toContain('unknown key "aproval"');
    const schema = await run(process.execPath, [CLI, 'policy', 'schema'], process.env);
    expect(schema.code).toBe(0);
    const s = JSON.parse(schema.stdout);
    expect(s.$schema).toContain('json-schema.org');
    const rule = s.properties.policy.properties.rules.items;
    expect(rule.required).toEqual(expect.arrayContaining(['name', 'who', 'resources', 'actions']));
    expect(rule.properties.effect.enum).toEqual(['allow', 'block']);
    expect(rule.additionalProperties).toBe(false);
    // Editors can flag a bad duration or action, and show what a field means.
    expect(new RegExp(rule.properties.max_duration.pattern).test('1h30m')).toBe(true);
    expect(new RegExp(rule.properties.max_duration.pattern).test('1 hour')).toBe(false);
    expect(rule.properties.max_duration.description).toContain('longest grant');
    expect(rule.properties.actions.items.enum).toEqual(expect.arrayContaining(['push', 'force-push', 'publish', 'deploy']));
    const tests = JSON.parse((await run(process.execPath, [CLI, 'policy', 'schema', '--tests'], process.env)).stdout);
    expect(tests.properties.tests.items.properties.expect.properties).toHaveProperty('ticket_accepted');
  });
});

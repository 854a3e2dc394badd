import { describe, expect, it } from 'vitest';
import { parseSshCommand } from './ssh-command.js';

describe('parseSshCommand', () => {
  it('accepts fetch and push of a repository, with or without the dash, slash and .git', () => {
    expect(parseSshCommand("git-upload-pack 'payments.git'")).toEqual({ ok: true, vcs: 'git', service: 'git-upload-pack', repo: 'payments' });
    expect(parseSshCommand("git-receive-pack '/platform/api.git'")).toEqual({ ok: true, vcs: 'git', service: 'git-receive-pack', repo: 'platform/api' });
    expect(parseSshCommand("git upload-pack 'payments'")).toEqual({ ok: true, vcs: 'git', service: 'git-upload-pack', repo: 'payments' });
    expect(parseSshCommand("git-upload-pack 'payments.git/'")).toEqual({ ok: true, vcs: 'git', service: 'git-upload-pack', repo: 'payments' });
  });

  it('accepts exactly hg -R <repo> serve --stdio, the path bare or quoted', () => {
    expect(parseSshCommand('hg -R billing serve --stdio')).toEqual({ ok: true, vcs: 'hg', repo: 'billing' });
    expect(parseSshCommand("hg -R '/team/billing' serve --stdio")).toEqual({ ok: true, vcs: 'hg', repo: 'team/billing' });
    for (const c of [
      'hg -R billing serve --stdio --debugger',
      'hg -R billing serve --stdio --config=ui.debugger=1',
      'hg -R --debugger serve --stdio',
      'hg --config ui.x=1 -R billing serve --stdio',
      'hg -R billing serve',
      'hg -R billing log',
      'hg -R ../billing serve --stdio',
      'hg -R billing;id serve --stdio',
      "hg -R 'bil'ling' serve --stdio",
      'hg -R billing  serve --stdio',
      'hg -Rbilling serve --stdio',
      "hg -R 'billing\n' serve --stdio",
    ]) {
      expect(parseSshCommand(c).ok, JSON.stringify(c)).toBe(false);
    }
  });

  it('refuses anything else: options, injection, other commands, paths out of the root', () => {
    for (const c of [
      undefined,
      '',
      'ls',
      "git-upload-pack '--upload-pack=id'",
      "git-upload-pack 'payments'; id",
      "git-upload-pack 'payments' && id",
      "git-upload-pack 'payments'\nid",
      "git-upload-pack 'pay\nments'",
      "git-upload-pack '../payments'",
      "git-upload-pack '/etc/../payments'",
      "git-upload-pack 'payments/../../etc'",
      'git-upload-pack payments',
      'git-upload-pack "payments"',
      "git-upload-archive 'payments'",
      "git-receive-pack '~alice/payments'",
      "git-upload-pack '-payments'",
      "git-upload-pack '$(id)'",
      "git-upload-pack 'a b'",
      "git  upload-pack 'payments'",
    ]) {
      expect(parseSshCommand(c).ok, JSON.stringify(c)).toBe(false);
    }
  });
});

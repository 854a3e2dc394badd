import { describe, expect, it } from 'vitest';
import { parseSshCommand } from './ssh-command.js';

describe('parseSshCommand', () => {
  it('accepts fetch and push of a repository, with or without the dash, slash and .git', () => {
    expect(parseSshCommand("git-upload-pack 'payments.git'")).toEqual({ ok: true, service: 'git-upload-pack', repo: 'payments' });
    expect(parseSshCommand("git-receive-pack '/platform/api.git'")).toEqual({ ok: true, service: 'git-receive-pack', repo: 'platform/api' });
    expect(parseSshCommand("git upload-pack 'payments'")).toEqual({ ok: true, service: 'git-upload-pack', repo: 'payments' });
    expect(parseSshCommand("git-upload-pack 'payments.git/'")).toEqual({ ok: true, service: 'git-upload-pack', repo: 'payments' });
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

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findHgPython, signContext } from './hgweb-worker.js';

const home = mkdtempSync(join(tmpdir(), 'ajar-hgpy-'));
const savedPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = savedPath;
});

/** A directory holding a `python3` that has no Mercurial (as a pyenv shim might). */
function shimDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ajar-shim-'));
  writeFileSync(join(dir, 'python3'), '#!/bin/sh\necho "no mercurial here" >&2\nexit 1\n');
  chmodSync(join(dir, 'python3'), 0o755);
  return dir;
}

describe('findHgPython', () => {
  it('finds the Python that hg itself runs with, not the python3 first on PATH', () => {
    const hgDir = dirname(execFileSync('sh', ['-c', 'command -v hg'], { encoding: 'utf8' }).trim());
    const expected = execFileSync('hg', ['debuginstall', '-T', '{pythonexe}'], { encoding: 'utf8' }).trim();
    process.env.PATH = `${shimDir()}:${hgDir}`;
    const found = findHgPython(undefined, home);
    expect(found).toBe(expected);
    execFileSync(found, ['-c', 'import mercurial.hgweb']);
  });

  it('says which interpreters it tried and how to fix it when the configured one has no Mercurial', () => {
    const shim = join(shimDir(), 'python3');
    expect(() => findHgPython(shim, home)).toThrow(
      `no Python with Mercurial found (tried ${shim}); install Mercurial (Debian: apt install mercurial) or set hg.python in the config to the interpreter that has it`,
    );
    expect(() => findHgPython('/nonexistent/python3', home)).toThrow('tried /nonexistent/python3');
  });
});

describe('signContext', () => {
  it('signs the context for hgweb: another secret or another context gives another signature', () => {
    const ctx = { user: 'alice', write: false, repoDir: '/srv/hg/billing', repo: 'billing', remoteAddr: '127.0.0.1' };
    const a = signContext(Buffer.alloc(32, 1), ctx);
    const [payload, mac] = a.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toEqual(ctx);
    expect(mac).toMatch(/^[0-9a-f]{64}$/);
    expect(signContext(Buffer.alloc(32, 2), ctx)).not.toBe(a);
    expect(signContext(Buffer.alloc(32, 1), { ...ctx, write: true })).not.toBe(a);
  });
});

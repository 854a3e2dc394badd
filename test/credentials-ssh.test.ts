// SSH certificates against a real sshd that trusts Ajar's user CA and reads
// Ajar's KRL: login works inside the grant's window, not after it, and not
// after the grant is revoked early.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ajar, run, startAjar } from './support/ajar.js';
import { gitConfig, policyRules, tempDir } from './support/git.js';
import { type Sshd, startSshd } from './support/sshd.js';

let a: Ajar;
let sshd: Sshd;
let dir: string;
let userKey: string;
let krl: string;

beforeAll(async () => {
  dir = tempDir('sshca-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ajar-ca', '-f', join(dir, 'ca')]);
  chmodSync(join(dir, 'ca'), 0o600);
  userKey = join(dir, 'alice');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', userKey]);
  // What a host does: RevokedKeys names the KRL it fetches from Ajar (empty until then).
  krl = join(dir, 'ajar.krl');
  execFileSync('ssh-keygen', ['-q', '-k', '-f', krl]);
  // The key that works without a certificate is another one, forced to a harmless command.
  sshd = await startSshd({ command: ['/bin/false'], trustedUserCaKey: join(dir, 'ca.pub'), revokedKeys: krl });
  const config = gitConfig((doc) => {
    doc.set('credentials', { ssh: { ca_key_file: join(dir, 'ca'), targets: { 'web-prod': { principals: [sshd.login] } } } });
    doc.setIn(['resources'], [...(doc.getIn(['resources']) as any).toJSON(), { id: 'ssh:web-prod' }]);
    const rules = policyRules(doc);
    rules.push({ name: 'web-login', who: { groups: ['eng'] }, resources: ['ssh:web-prod'], actions: ['login'], max_duration: '1h', approval: 'auto' });
    doc.setIn(['policy', 'rules'], rules);
  });
  a = await startAjar({ config, clock: new Date().toISOString() });
});
afterAll(async () => {
  await sshd?.stop();
  await a?.stop();
});

/** Log in with the key and its certificate only (no agent, no other keys). */
const login = (cert: string, key = userKey) =>
  run('ssh', ['-F', '/dev/null', '-i', key, '-o', `CertificateFile=${cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-p', String(sshd.port), `${sshd.login}@127.0.0.1`, 'echo logged-in'], { PATH: process.env.PATH, HOME: tempDir('ssh-home-') });

describe('SSH certificates', () => {
  it('no login grant, no certificate', async () => {
    const r = await a.cli(['ssh-cert', '--target', 'ssh:web-prod', '--pubkey', `${userKey}.pub`], { as: 'alice' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no active grant for login on ssh:web-prod');
  });

  it('a certificate valid exactly for the grant window logs in; the key alone does not', async () => {
    expect((await login('/dev/null')).code).not.toBe(0);
    const g = await a.json(['request', '--resource', 'ssh:web-prod', '--action', 'login', '--duration', '1h', '--reason', 'INC-3'], { as: 'alice' });
    const out = join(dir, 'alice-cert.pub');
    const c = await a.json(['ssh-cert', '--target', 'ssh:web-prod', '--pubkey', `${userKey}.pub`], { as: 'alice' });
    expect(c.file).toBe(out);
    const grant = (await a.json(['grants', g.grantId], { as: 'alice' })) as any;
    expect(c.validAfter).toBe(grant.startsAt);
    expect(c.validBefore).toBe(grant.endsAt);
    const details = execFileSync('ssh-keygen', ['-L', '-f', out], { encoding: 'utf8' });
    expect(details).toContain(`Key ID: "ajar:alice:${g.grantId}"`);
    expect(details).toMatch(new RegExp(`Principals: \\n\\s+${sshd.login}\\n`));
    const r = await login(out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('logged-in');
    const ev = await a.json(['audit', '--local', '--type', 'credential.issued']);
    expect(ev.at(-1)).toMatchObject({ subject: 'alice', grantId: g.grantId, details: { kind: 'ssh-certificate', serial: c.serial } });
    expect(readFileSync(out, 'utf8')).toContain('ssh-ed25519-cert-v01@openssh.com');
  });

  it('a certificate whose window has passed does not log in', async () => {
    // A grant that ran from two hours ago to one hour ago (Ajar's clock set back): sshd's clock is real.
    const now = a.now();
    a.setClock(new Date(Date.now() - 2 * 3600_000));
    try {
      await a.json(['request', '--resource', 'ssh:web-prod', '--action', 'login', '--duration', '1h', '--reason', 'old'], { as: 'erin' });
      const key = join(dir, 'erin');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const c = await a.json(['ssh-cert', '--target', 'ssh:web-prod', '--pubkey', `${key}.pub`], { as: 'erin' });
      expect(new Date(c.validBefore).getTime()).toBeLessThan(Date.now());
      const r = await login(`${key}-cert.pub`, key);
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toContain('logged-in');
    } finally {
      a.setClock(now);
    }
  });

  it('a grant revoked early puts its certificate in the KRL: the same certificate that logged in is refused', async () => {
    const key = join(dir, 'frank');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const g = await a.json(['request', '--resource', 'ssh:web-prod', '--action', 'login', '--duration', '1h', '--reason', 'INC-4'], { as: 'erin' });
    const c = await a.json(['ssh-cert', '--target', 'ssh:web-prod', '--pubkey', `${key}.pub`], { as: 'erin' });
    const fetchKrl = async () => {
      const res = await fetch(`${a.url}/v1/ssh/krl`);
      expect(res.status).toBe(200);
      writeFileSync(krl, Buffer.from(await res.arrayBuffer()));
    };
    await fetchKrl();
    const before = await login(`${key}-cert.pub`, key);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout.trim()).toBe('logged-in');
    await a.json(['revoke', g.grantId, '--reason', 'laptop stolen']);
    // The next fetch has it, whether or not the sweep has run.
    await fetchKrl();
    const query = await run('ssh-keygen', ['-Q', '-f', krl, `${key}-cert.pub`], process.env);
    expect(query).toMatchObject({ code: 1, stdout: expect.stringContaining('REVOKED') });
    const after = await login(`${key}-cert.pub`, key);
    expect(after.code).not.toBe(0);
    expect(after.stdout).not.toContain('logged-in');
    expect(sshd.log()).toMatch(/revoked|REVOKED/);
    // Audited, linked to the grant and its request.
    let revoked: any;
    for (let i = 0; i < 100 && !revoked; i++) {
      revoked = (await a.json(['audit', '--local', '--type', 'credential.revoked', '--user', 'erin'])).find((e: any) => e.details.serial === c.serial);
      if (!revoked) await new Promise((ok) => setTimeout(ok, 100));
    }
    expect(revoked).toMatchObject({ grantId: g.grantId, requestId: g.id, action: 'login', reason: 'the grant was revoked', details: { kind: 'ssh-certificate' } });
  });

  it('a one-use grant is used up by its certificate (audited with its request), and the certificate lives to the window\'s end', async () => {
    const key = join(dir, 'grace');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const g = await a.json(['request', '--resource', 'ssh:web-prod', '--action', 'login', '--duration', '1h', '--uses', '1', '--reason', 'INC-5'], { as: 'erin' });
    const c = await a.json(['ssh-cert', '--target', 'ssh:web-prod', '--pubkey', `${key}.pub`], { as: 'erin' });
    expect(c.grantId).toBe(g.grantId);
    const consumed = (await a.json(['audit', '--local', '--type', 'grant.consumed', '--user', 'erin'])).find((e: any) => e.grantId === g.grantId);
    expect(consumed).toMatchObject({ requestId: g.id, action: 'login', details: { uses: 1 } });
    expect((await a.cli(['ssh-cert', '--target', 'ssh:web-prod', '--pubkey', `${key}.pub`], { as: 'erin' })).code).not.toBe(0);
    // Used up is not revoked: the KRL does not list it, and it logs in.
    const res = await fetch(`${a.url}/v1/ssh/krl`);
    writeFileSync(krl, Buffer.from(await res.arrayBuffer()));
    const r = await login(`${key}-cert.pub`, key);
    expect(r.code, r.stderr).toBe(0);
  });

  it('refuses what is not a public key, and targets without a CA configuration', async () => {
    await a.json(['request', '--resource', 'ssh:web-prod', '--action', 'login', '--duration', '1h', '--reason', 'x'], { as: 'alice' });
    const bad = await a.api('POST', '/v1/credentials/ssh', { as: 'alice', body: { target: 'ssh:web-prod', public_key: '-----BEGIN OPENSSH PRIVATE KEY-----' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('public_key');
    const other = await a.api('POST', '/v1/credentials/ssh', { as: 'alice', body: { target: 'ssh:elsewhere', public_key: readFileSync(`${join(dir, 'alice')}.pub`, 'utf8') } });
    expect(other.status).toBe(400);
  });
});

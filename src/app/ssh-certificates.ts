// SSH certificates for an active `login` grant: Ajar's user CA signs the
// user's public key with the target's principals (credentials.ssh.targets.<t>.principals,
// else the user's Ajar name) and a validity of exactly the grant's window, so
// the certificate stops working when the grant ends, on every host that trusts
// the CA (TrustedUserCAKeys). A grant revoked or released early puts the
// certificate's serial in Ajar's KRL (ssh-krl.ts), which hosts fetch for RevokedKeys.
// Signing is done by the real ssh-keygen, run with an argument array.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppError, badInput } from '../domain/errors.js';
import { canonicalResource, parseResource } from '../domain/resource.js';
import { appendAudit } from './audit-log.js';
import { type Actor, type AppContext, inTransaction, newId } from './context.js';
import { requireGrant } from './grants.js';

const run = promisify(execFile);
const PUBKEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+=*( [^\r\n]{0,200})?\s*$/;

export interface SshCertificate {
  certificate: string;
  serial: string;
  principals: string[];
  validAfter: string;
  validBefore: string;
  grantId: string;
}

/** ssh-keygen's -V in UTC: YYYYMMDDHHMMSSZ. */
const stamp = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

export async function issueSshCertificate(ctx: AppContext, actor: Actor, input: { target: string; publicKey: string }): Promise<SshCertificate> {
  const ssh = ctx.config.credentials.ssh;
  const p = parseResource(input.target);
  if (!p.ok || p.value.kind !== 'ssh') throw badInput('target: name a host group, e.g. ssh:web-prod', { field: 'target' });
  const target = ssh?.targets.get(p.value.name);
  if (!ssh || !target) throw badInput(`target: Ajar signs no certificates for ${input.target} (config credentials.ssh.targets)`, { field: 'target' });
  if (!PUBKEY.test(input.publicKey)) throw badInput('public_key: give one OpenSSH public key line (e.g. the contents of ~/.ssh/id_ed25519.pub)', { field: 'public_key' });
  const now = ctx.clock.now();
  const principals = target.principals ?? [actor.name];
  return inTransaction(ctx, async (tx) => {
    const { grant: g, events } = await requireGrant(tx, actor, 'login', p.value, now, { consume: true });
    const from = new Date(g.starts_at);
    const to = new Date(g.ends_at);
    const serial = BigInt(`0x${randomBytes(8).toString('hex')}`) & ((1n << 63n) - 1n);
    const dir = mkdtempSync(join(tmpdir(), 'ajar-sshcert-'));
    let certificate: string;
    try {
      writeFileSync(join(dir, 'key.pub'), `${input.publicKey.trim()}\n`);
      try {
        await run('ssh-keygen', ['-q', '-s', ssh.caKeyFile, '-I', `ajar:${actor.name}:${g.id}`, '-n', principals.join(','), '-V', `${stamp(from)}:${stamp(to)}`, '-z', serial.toString(), join(dir, 'key.pub')], { timeout: 10_000 });
      } catch (e) {
        // ssh-keygen's message, not the paths of the CA key.
        throw new AppError('unavailable', `cannot sign the certificate: ${String((e as { stderr?: string }).stderr ?? (e as Error).message).split('\n')[0]?.replaceAll(ssh.caKeyFile, 'the CA key')}`);
      }
      certificate = readFileSync(join(dir, 'key-cert.pub'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const id = newId('crd');
    // Recorded by serial: the KRL lists it if the grant ends early.
    await tx.insertInto('credentials').values({ id, grant_id: g.id, subject: actor.name, kind: 'ssh-certificate', target: canonicalResource(p.value), name: serial.toString(), issued_at: now, expires_at: to }).execute();
    await appendAudit(tx, now, [
      ...events,
      {
        type: 'credential.issued',
        actor: actor.name,
        subject: actor.name,
        grantId: g.id,
        requestId: g.request_id,
        resource: canonicalResource(p.value),
        action: 'login',
        details: { credential: id, kind: 'ssh-certificate', serial: serial.toString(), principals, validAfter: from.toISOString(), validBefore: to.toISOString(), key: input.publicKey.trim().split(' ').slice(0, 2).join(' ').slice(0, 120) },
      },
    ]);
    return { certificate, serial: serial.toString(), principals, validAfter: from.toISOString(), validBefore: to.toISOString(), grantId: g.id };
  });
}

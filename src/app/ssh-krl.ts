// Ajar's SSH key revocation list: the serials of certificates whose grant was
// revoked or released before the certificate's window ended, as an OpenSSH KRL
// built by the real ssh-keygen (-k). Hosts fetch it (GET /v1/ssh/krl) every
// minute into the file their sshd_config names in RevokedKeys. It is read from
// the grants themselves, so a revocation is in the next fetch, sweep or not.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppError, notFound } from '../domain/errors.js';
import type { AppContext } from './context.js';
import { ENDED_EARLY } from './credential-sweep.js';

const run = promisify(execFile);
/** Revoked serials stay listed this long past their certificate's end: a host's clock may run behind. */
const SKEW_MARGIN_MS = 3600_000;

let last: { key: string; krl: Buffer } | undefined;

export async function revokedSerials(ctx: AppContext): Promise<string[]> {
  const rows = await ctx.db
    .selectFrom('credentials')
    .innerJoin('grants', 'grants.id', 'credentials.grant_id')
    .select('credentials.name')
    .where('credentials.kind', '=', 'ssh-certificate')
    .where('credentials.expires_at', '>', new Date(ctx.clock.now().getTime() - SKEW_MARGIN_MS))
    .where((eb) => eb.or([eb('credentials.revoked_at', 'is not', null), eb('grants.state', 'in', [...ENDED_EARLY])]))
    .orderBy('credentials.name')
    .execute();
  return rows.map((r) => r.name);
}

export async function sshKrl(ctx: AppContext): Promise<Buffer> {
  const ssh = ctx.config.credentials.ssh;
  if (!ssh) throw notFound('SSH CA (config credentials.ssh)');
  const serials = await revokedSerials(ctx);
  const key = `${ssh.caKeyFile}\n${serials.join(',')}`;
  if (last?.key === key) return last.krl;
  const dir = mkdtempSync(join(tmpdir(), 'ajar-krl-'));
  try {
    const { stdout: caPub } = await run('ssh-keygen', ['-y', '-f', ssh.caKeyFile], { timeout: 10_000 });
    writeFileSync(join(dir, 'ca.pub'), caPub);
    writeFileSync(join(dir, 'spec'), serials.map((s) => `serial: ${s}\n`).join(''));
    await run('ssh-keygen', ['-q', '-k', '-f', join(dir, 'revoked.krl'), '-s', join(dir, 'ca.pub'), join(dir, 'spec')], { timeout: 10_000 });
    const krl = readFileSync(join(dir, 'revoked.krl'));
    last = { key, krl };
    return krl;
  } catch (e) {
    // ssh-keygen's message, not the path of the CA key.
    throw new AppError('unavailable', `cannot build the KRL: ${String((e as { stderr?: string }).stderr || (e as Error).message).split('\n')[0]?.replaceAll(ssh.caKeyFile, 'the CA key')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

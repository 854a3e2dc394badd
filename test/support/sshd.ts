// A real sshd on a free local port whose only key runs a forced command (SSH
// mode: `ajar ssh-command USER ...`), and the ssh client options to reach it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { type CliResult, run } from './ajar.js';
import { tempDir } from './git.js';

const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  port: number;
  /** sshd started by someone other than root only lets that user in */
  login: string;
  /** the private key whose authorized_keys line has the forced command */
  key: string;
  /** ssh client options for this server: no config, this key only, no host key checks; with `-p PORT` unless `withPort` is false */
  options(withPort?: boolean): string[];
  /** `ssh host COMMAND`: what arrives as SSH_ORIGINAL_COMMAND */
  remote(command: string, opts?: { options?: string[]; env?: Record<string, string>; stdin?: string }): Promise<CliResult>;
  log(): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as { port: number };
      s.close(() => ok(p));
    });
  });
}

/**
 * Start sshd with one user key forced to run `command` (an argument list, each
 * single-quoted in authorized_keys); `acceptEnv` are the variables it takes from the client;
 * `revokedKeys` a KRL file sshd reads on every login.
 */
export async function startSshd(opts: { command: string[]; acceptEnv?: string[]; trustedUserCaKey?: string; revokedKeys?: string }): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install openssh-server (.ci/run does)`);
  const dir = tempDir('sshd-');
  for (const name of ['hostkey', 'user']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  const key = join(dir, 'user');
  const forced = opts.command.map((w) => `'${w}'`).join(' ');
  writeFileSync(join(dir, 'authorized_keys'), `command="${forced}",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ${readFileSync(`${key}.pub`, 'utf8')}`);
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'hostkey')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin yes',
    ...(opts.acceptEnv?.length ? [`AcceptEnv ${opts.acceptEnv.join(' ')}`] : []),
    ...(opts.trustedUserCaKey ? [`TrustedUserCAKeys ${opts.trustedUserCaKey}`] : []),
    ...(opts.revokedKeys ? [`RevokedKeys ${opts.revokedKeys}`] : []),
    `PidFile ${join(dir, 'sshd.pid')}`,
  ];
  writeFileSync(join(dir, 'sshd_config'), `${config.join('\n')}\n`);
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true }); // its privilege separation directory
  const proc: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`sshd did not start:\n${log}`)), 20_000);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/Server listening on 127\.0\.0\.1/.test(log)) {
        clearTimeout(timer);
        ok();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`sshd exited ${code}:\n${log}`));
    });
  });
  const login = userInfo().username;
  const options = (withPort = true) => [
    '-F',
    '/dev/null',
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    ...(withPort ? ['-p', String(port)] : []),
  ];
  return {
    port,
    login,
    key,
    options,
    remote: (command, o = {}) => run('ssh', [...options(), ...(o.options ?? []), `${login}@127.0.0.1`, command], { PATH: process.env.PATH, HOME: tempDir('ssh-home-'), ...o.env }, o.stdin),
    log: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((ok) => {
        proc.once('exit', () => ok());
        proc.kill('SIGTERM');
      });
    },
  };
}

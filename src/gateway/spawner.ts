// Ajar's side of the spawner (see spawner-main.ts): start it early, and start
// programs through it.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from '../logger.js';

export interface Spawner {
  /** Start a program; resolves to a socket that is its standard input (write, then end) and output (read). */
  run(job: { command: string; args: string[]; env: Record<string, string>; cwd?: string | undefined }): Promise<Socket>;
  stop(): Promise<void>;
}

export async function startSpawner(socketPath: string, log: Logger): Promise<Spawner> {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, 'spawner-main.js'), socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ajar-spawner ready')) ok();
    });
    child.once('exit', (code) => fail(new Error(`the spawner exited (${code}) before it was ready`)));
  });
  child.on('exit', (code, signal) => {
    if (!stopping) log.error({ code, signal }, 'the spawner exited; git requests will fail until Ajar restarts');
  });
  let stopping = false;
  return {
    run(job) {
      return new Promise((ok, fail) => {
        const s = connect({ path: socketPath, allowHalfOpen: true });
        s.once('error', fail);
        s.once('connect', () => s.write(`${JSON.stringify(job)}\n`));
        // The one-byte answer: the program is being started on this connection.
        const onAck = (d: Buffer) => {
          s.off('data', onAck);
          s.pause();
          s.off('error', fail);
          if (d[0] !== 0x21) return fail(new Error('the spawner answered something else'));
          if (d.length > 1) s.unshift(d.subarray(1));
          ok(s);
        };
        s.on('data', onAck);
      });
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((ok) => child.once('exit', ok));
      child.stdin!.end();
      await exited;
    },
  };
}

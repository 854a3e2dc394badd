// Ajar's side of the spawner (see spawner-main.ts): start it early, and start
// programs through it.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from '../logger.js';

/** A program started by the spawner: its standard input, and its output read chunk by chunk. */
export interface SpawnedProgram {
  input: Socket;
  /**
   * Deliver the output. Every chunk is a view of one buffer that is read into
   * again: it is valid only until `next` is called, and nothing more is read
   * before that (backpressure, and no allocation per chunk: a pack relayed as
   * fresh buffers makes the garbage collector of a big process work hard).
   */
  read(onChunk: (chunk: Buffer, next: () => void) => void, onEnd: () => void): void;
  kill(): void;
}

export interface Spawner {
  run(job: { command: string; args: string[]; env: Record<string, string>; cwd?: string | undefined }): Promise<SpawnedProgram>;
  stop(): Promise<void>;
}

const READ_BUFFER_BYTES = 128 * 1024;

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
        // Before the one-byte answer ("!": the program is being started on this
        // connection) the reader waits for it; after, it hands chunks on.
        let onChunk: ((chunk: Buffer, next: () => void) => void) | undefined;
        let early: Buffer | undefined;
        let ended = false;
        let onEnd: (() => void) | undefined;
        // `next` may be called before the callback returns (nothing to write): then reading goes on.
        let inCallback = false;
        let nextNow = false;
        const next = () => {
          if (inCallback) nextNow = true;
          else s.resume();
        };
        const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
        const s: Socket = connect({
          path: socketPath,
          allowHalfOpen: true,
          onread: {
            buffer,
            callback(n) {
              const chunk = buffer.subarray(0, n);
              if (onChunk) {
                inCallback = true;
                nextNow = false;
                try {
                  onChunk(chunk, next);
                } finally {
                  inCallback = false;
                }
                return nextNow;
              }
              s.off('error', fail);
              if (chunk[0] !== 0x21) {
                s.destroy();
                fail(new Error('the spawner answered something else'));
                return false;
              }
              // Output that came with the answer is kept (copied) until there is a reader.
              if (n > 1) early = Buffer.from(chunk.subarray(1));
              ok(program);
              return false;
            },
          },
        });
        s.once('error', fail);
        s.once('connect', () => s.write(`${JSON.stringify(job)}\n`));
        s.on('end', () => {
          ended = true;
          onEnd?.();
        });
        const program: SpawnedProgram = {
          input: s,
          read(chunkFn, endFn) {
            onChunk = chunkFn;
            onEnd = () => {
              if (early === undefined) endFn();
            };
            if (early !== undefined) {
              const first = early;
              chunkFn(first, () => {
                early = undefined;
                if (ended) endFn();
                else next();
              });
            } else if (ended) endFn();
            else next();
          },
          kill: () => s.destroy(),
        };
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

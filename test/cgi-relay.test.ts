// The gateway's CGI relay through the spawner (what carries every Git pack):
// bodies of many read buffers pass byte for byte both ways, status and headers
// come from the program's CGI header, and a program that answers nothing is a 502.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// From the build: the spawner runs dist/gateway/spawner-main.js.
const dist = join(import.meta.dirname, '..', 'dist', 'gateway');
const { startSpawner } = (await import(join(dist, 'spawner.js'))) as typeof import('../src/gateway/spawner.js');
const { runCgi } = (await import(join(dist, 'cgi.js'))) as typeof import('../src/gateway/cgi.js');

const log = { info() {}, warn() {}, error() {}, debug() {} } as any;
let dir: string;
let spawner: Awaited<ReturnType<typeof startSpawner>>;
let server: Server;
let url: string;
const big = randomBytes(5 * 1024 * 1024 + 12345);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const PROGRAMS: Record<string, string> = {
  // the whole file after the header, the request body read first
  '/big': `cat >/dev/null; printf 'Content-Type: application/octet-stream\\r\\nX-Test: yes\\r\\n\\r\\n'; cat "$BIG"`,
  // what came in, counted and hashed
  '/echo': `printf 'Status: 201 Created\\nContent-Type: text/plain\\n\\n'; tee "$OUT" | wc -c`,
  '/silent': 'cat >/dev/null; exit 3',
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ajar-cgi-'));
  writeFileSync(join(dir, 'big'), big);
  spawner = await startSpawner(join(dir, 'spawner.sock'), log);
  server = createServer((req, res) => {
    const program = PROGRAMS[req.url ?? ''] ?? 'exit 1';
    void runCgi(req, res, { command: 'sh', args: ['-c', program], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BIG: join(dir, 'big'), OUT: join(dir, 'out') }, log, spawner });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as any).port}`;
});

afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  await spawner.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the CGI relay through the spawner', () => {
  it('streams a response of many read buffers out byte for byte, with the CGI headers', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/big`, { method: 'POST', body: 'x' });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-test')).toBe('yes');
      const body = new Uint8Array(await res.arrayBuffer());
      expect(body.length).toBe(big.length);
      expect(sha(body)).toBe(sha(big));
    }
  });

  it('streams a request body of many buffers in, and takes the status from Status:', async () => {
    const res = await fetch(`${url}/echo`, { method: 'POST', body: big });
    expect(res.status).toBe(201);
    expect((await res.text()).trim()).toBe(String(big.length));
    expect(sha(readFileSync(join(dir, 'out')))).toBe(sha(big));
  });

  it('a program that ends without answering is a 502', async () => {
    const res = await fetch(`${url}/silent`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('failed to answer');
  });
});

// The spawner: a small process, started before the database loads, that starts
// the CGI programs (`git http-backend`) for Ajar's gateway. Starting a child
// from a big process is slow (fork copies its page tables: ~10-25 ms from
// ajar serve with the embedded database, ~0.5 ms from here), and blocks its
// event loop.
//
// Protocol, per connection on its Unix socket (mode 0600): one JSON line
// {command, args, env, cwd}; the spawner answers one byte "!" and starts the
// program with the connection itself as its standard input and output (no copy
// in between), then lets go of it. Standard error and failures go to its own
// standard error, which is Ajar's.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

const path = process.argv[2];
if (!path) throw new Error('usage: spawner-main SOCKET');

function serve(conn: Socket) {
  let header = '';
  const onData = (d: Buffer) => {
    header += d.toString('utf8');
    if (header.length > 1024 * 1024) return conn.destroy();
    const nl = header.indexOf('\n');
    if (nl === -1) return;
    conn.off('data', onData);
    conn.pause();
    let job: { command: string; args: string[]; env: Record<string, string>; cwd?: string };
    try {
      job = JSON.parse(header.slice(0, nl));
    } catch {
      return conn.destroy();
    }
    conn.write('!', () => {
      const child = spawn(job.command, job.args, { env: job.env, cwd: job.cwd, stdio: [conn, conn, 'pipe'], shell: false });
      child.on('error', (e) => process.stderr.write(`ajar spawner: cannot run ${job.command}: ${e.message}\n`));
      child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
      // The child holds its own copy of the connection now.
      conn.destroy();
    });
  };
  conn.on('data', onData);
  conn.on('error', () => {});
  conn.resume();
}

rmSync(path, { force: true });
const old = process.umask(0o177);
const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, serve);
server.listen(path, () => {
  process.umask(old);
  process.stdout.write('ajar-spawner ready\n');
});
// Ajar went away: so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

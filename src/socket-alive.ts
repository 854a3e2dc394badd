// Is a server listening on this Unix socket? (the admin socket of a running `ajar serve`).
// Its own module: the CLI asks it before deciding whether to load the server's code at all.
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';

export function socketAlive(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((ok) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.end();
      ok(true);
    });
    s.once('error', () => ok(false));
  });
}

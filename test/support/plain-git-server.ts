// A git server that is not Ajar: `git http-backend` behind a few lines of Node,
// taking the user from HTTP Basic without checking a password, the way a web
// server with its own authentication sets REMOTE_USER.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';

export async function startPlainGitServer(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?') as [string, string?];
    const auth = req.headers.authorization;
    const user = auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] : undefined;
    if (!user) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="plain"' }).end();
      return;
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: path,
      QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? 'GET',
      REMOTE_USER: user,
      GIT_CONFIG_NOSYSTEM: '1',
    };
    if (req.headers['content-type']) env.CONTENT_TYPE = String(req.headers['content-type']);
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = String(req.headers['content-encoding']);
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
    const child = spawn('git', ['http-backend'], { env });
    req.pipe(child.stdin);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('close', () => {
      const out = Buffer.concat(chunks);
      const end = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, end).toString();
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (k!.toLowerCase() === 'status') status = Number.parseInt(v.join(':').trim(), 10);
        else headers[k!.toLowerCase()] = v.join(':').trim();
      }
      res.writeHead(status, headers).end(out.subarray(end + 4));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

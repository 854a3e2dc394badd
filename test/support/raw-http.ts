// HTTP requests sent exactly as written: fetch() would normalise `..` and `//`
// away before the server saw them.
import { request as httpRequest } from 'node:http';

export function rawHttp(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; reason: string; text: string }> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

// A local webhook receiver for outbox tests: records every event it is sent and
// answers as the test says — a status (with headers), or 'hold': no answer at all
// until release(), like an endpoint that hangs.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';

export interface Received {
  endpoint: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  /** the status answered; 'held' while no answer was given */
  status: number | 'held';
}
export type Answer = number | { status: number; headers: Record<string, string> } | 'hold';

export class Receiver {
  got: Received[] = [];
  /** events not answered yet; `closed` once the sender gave up waiting (its connection closed) */
  held: { res: ServerResponse; got: Received; closed: boolean }[] = [];
  /** what to answer to an event sent to `endpoint` (the path and query) */
  answer: (endpoint: string, json: any) => Answer = () => 200;
  server!: Server;
  url = '';

  async start() {
    this.server = createServer(async (req, res) => {
      let body = '';
      for await (const c of req) body += c;
      const got: Received = { endpoint: req.url ?? '', headers: req.headers, body, json: JSON.parse(body || '{}'), status: 'held' };
      this.got.push(got);
      const a = this.answer(got.endpoint, got.json);
      if (a === 'hold') {
        const h = { res, got, closed: false };
        res.once('close', () => (h.closed = true));
        return void this.held.push(h);
      }
      got.status = typeof a === 'number' ? a : a.status;
      res.writeHead(got.status, typeof a === 'number' ? {} : a.headers).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** answer every held event now */
  release(status: number) {
    for (const h of this.held.splice(0)) {
      h.got.status = status;
      if (!h.closed) h.res.writeHead(status).end();
    }
  }

  /** the events answered 200 at this endpoint */
  ok(endpoint: string) {
    return this.got.filter((g) => g.endpoint === endpoint && g.status === 200);
  }

  /** how many times the delivery with this webhook-id reached the receiver */
  sends(id: string) {
    return this.got.filter((g) => g.headers['webhook-id'] === id).length;
  }

  close() {
    this.release(503);
    this.server?.closeAllConnections();
    this.server?.close();
  }
}

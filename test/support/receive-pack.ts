// Hand-made receive-pack requests, for what the git client would not send on
// its own: gzip-encoded or chunked bodies, push certificates, a body that
// stalls half-way.
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

export const ZERO = '0'.repeat(40);

export function pkt(text: string): Buffer {
  const b = Buffer.from(text);
  return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, '0')), b]);
}

/** Commands (old new ref) and a pack holding `tip` and everything it needs (from a checkout). */
export function receivePackBody(work: string, updates: { old: string; new: string; ref: string }[], opts: { pushCert?: boolean } = {}): Buffer {
  const tips = updates.filter((u) => u.new !== ZERO).map((u) => `${u.new}\n`).join('');
  const pack = execFileSync('git', ['pack-objects', '--stdout', '--revs'], { cwd: work, input: tips });
  let commands: Buffer;
  if (opts.pushCert) {
    commands = Buffer.concat([
      pkt('push-cert\0report-status\n'),
      pkt('certificate version 0.1\n'),
      pkt('pusher Test <test@example.com> 1795420800 +0000\n'),
      pkt('pushee http://ajar.test/git/payments.git\n'),
      pkt('nonce 1795420800-0000\n'),
      pkt('\n'),
      ...updates.map((u) => pkt(`${u.old} ${u.new} ${u.ref}\n`)),
      pkt('-----BEGIN PGP SIGNATURE-----\n'),
      pkt('not really signed\n'),
      pkt('-----END PGP SIGNATURE-----\n'),
      pkt('push-cert-end\n'),
      Buffer.from('0000'),
    ]);
  } else {
    commands = Buffer.concat([...updates.map((u, i) => pkt(`${u.old} ${u.new} ${u.ref}${i === 0 ? '\0report-status' : ''}\n`)), Buffer.from('0000')]);
  }
  return Buffer.concat([commands, pack]);
}

export interface RawPushOptions {
  user: string;
  token: string;
  gzip?: boolean;
  /** send the body as a stream (chunked), calling `midway` after the first half */
  chunked?: boolean;
  midway?: () => Promise<void>;
}

/** POST a receive-pack body; returns the status and the report-status text. */
export async function rawPush(url: string, body: Buffer, o: RawPushOptions): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-git-receive-pack-request',
    authorization: `Basic ${Buffer.from(`${o.user}:${o.token}`).toString('base64')}`,
  };
  let payload: Buffer | ReadableStream<Uint8Array> = body;
  if (o.gzip) {
    payload = gzipSync(body);
    headers['content-encoding'] = 'gzip';
  }
  if (o.chunked) {
    const whole = payload as Buffer;
    const half = Math.floor(whole.length / 2);
    payload = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(whole.subarray(0, half));
        await o.midway?.();
        controller.enqueue(whole.subarray(half));
        controller.close();
      },
    });
  }
  const res = await fetch(url, { method: 'POST', headers, body: payload, duplex: 'half' } as RequestInit);
  return { status: res.status, text: await res.text() };
}

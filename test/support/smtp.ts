// A local SMTP server (smtp-server) that requires AUTH PLAIN/LOGIN over plain
// TCP, parses every accepted message with mailparser and keeps it for tests.
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** envelope sender (MAIL FROM) */
  from: string;
  /** envelope recipients (RCPT TO), including Bcc ones */
  to: string[];
  subject: string;
  text: string;
  html: string | false;
  /** parsed headers, lower-case names, as mailparser gives them */
  headers: Map<string, unknown>;
}
export interface FakeSmtp {
  host: string;
  port: number;
  /** smtp://user:pass@127.0.0.1:PORT */
  url: string;
  mails: ReceivedMail[];
  /** refuse the next `times` messages after DATA with this reply code: 4xx temporary (e.g. 451), 5xx permanent (e.g. 550) */
  failNext(code: number, times?: number): void;
  close(): Promise<void>;
}

export async function startFakeSmtp(opts: { user?: string; password?: string } = {}): Promise<FakeSmtp> {
  const user = opts.user ?? 'ajar';
  const password = opts.password ?? 'smtp-secret';
  const mails: ReceivedMail[] = [];
  const failures: { code: number; left: number }[] = [];

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    // authOptional stays false: MAIL FROM before AUTH gets 530, as on a submission server
    logger: false,
    closeTimeout: 500,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) return callback(null, { user });
      // smtp-server answers an auth error with 535 5.7.8
      return callback(new Error('Authentication credentials invalid'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (e) => callback(e));
      // the whole message must be read before answering, even one that is refused
      stream.on('end', () => {
        const fail = failures[0];
        if (fail) {
          if (--fail.left <= 0) failures.shift();
          const e = Object.assign(new Error(fail.code >= 500 ? 'Message rejected' : 'Temporary failure, try again later'), { responseCode: fail.code });
          return callback(e);
        }
        simpleParser(Buffer.concat(chunks)).then(
          (parsed) => {
            const { mailFrom, rcptTo } = session.envelope;
            mails.push({
              from: mailFrom ? mailFrom.address : '',
              to: rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: parsed.html ?? false,
              headers: parsed.headers as Map<string, unknown>,
            });
            callback();
          },
          (e: Error) => callback(Object.assign(e, { responseCode: 554 })),
        );
      });
    },
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.server.address() as { port: number };
  return {
    host: '127.0.0.1',
    port,
    url: `smtp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    mails,
    failNext(code, times = 1) {
      failures.push({ code, left: times });
    },
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

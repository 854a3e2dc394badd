// Structured logs with secrets redacted: tokens, passwords and authorization
// headers never reach a log line.
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.AJAR_LOG_LEVEL ?? 'info',
      redact: {
        paths: ['token', 'secret', 'password', '*.token', '*.secret', '*.password', 'req.headers.authorization', 'headers.authorization', 'databaseUrl'],
        censor: '[redacted]',
      },
      base: undefined,
    },
    (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(2),
  );
}

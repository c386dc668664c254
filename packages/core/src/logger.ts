import pino, { type Logger } from 'pino';
import { REDACTED_LOG_KEYS, scrubSecrets } from './redact';

export type { Logger } from 'pino';

export interface LoggerOptions {
  name: string;
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to inspect lines. */
  destination?: pino.DestinationStream;
}

/** A structured logger with an always-on redaction list and scrubbed messages. */
export function createLogger(options: LoggerOptions): Logger {
  const paths = REDACTED_LOG_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths, censor: '[REDACTED]' },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubSecrets(arg) : arg));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      formatters: {
        log(object) {
          const err = (object as { err?: unknown }).err;
          if (err instanceof Error) {
            return { ...object, err: { type: err.name, message: scrubSecrets(err.message), code: (err as { code?: unknown }).code } };
          }
          return object;
        },
      },
    },
    options.destination,
  );
}

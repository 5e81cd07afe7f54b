import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Secrets never reach a log line: the Authorization header, anything called secret/password/token/
 * apiKey, and the database URL (it may carry a password). SQL parameters are never logged at all.
 */
export const redactPaths = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  '*.authorization',
  '*.secret',
  '*.password',
  '*.token',
  '*.apiKey',
  'secret',
  'password',
  'token',
  'apiKey',
  'DATABASE_URL',
  '*.DATABASE_URL',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'sla-timer' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  // Pretty output only for a person at a terminal, and only where the dev dependency exists.
  if (process.stdout.isTTY && canResolve('pino-pretty')) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino(options);
}

function canResolve(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

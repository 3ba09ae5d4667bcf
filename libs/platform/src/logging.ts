import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import { Correlation } from '@borealis/messaging';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Keys whose values never reach a log line, at any depth: credentials, tokens, keys. */
const SECRET_KEY = /(password|secret|token|authorization|cookie|private_?key|credentials?|assertion)$/i;
const MAX_DEPTH = 6;

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack };
  if (depth >= MAX_DEPTH) return '[object]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEY.test(key) && v !== undefined && v !== null ? '***' : redact(v, depth + 1);
  return out;
}

/**
 * The process logger: one JSON object per line on stdout, with the service name, the Nest context
 * (class) and the id of the request being handled, if any (see `Correlation`).
 */
export function createLogger(options: { service: string; level?: string | undefined; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: parseLevel(options.level),
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => {
        const requestId = Correlation.requestId();
        return requestId ? { requestId } : {};
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** Accepts pino's level names and, for compatibility, Nest's (`log`, `verbose`). */
export function parseLevel(level: string | undefined): LogLevel {
  const first = (level ?? 'info').split(',')[0]!.trim().toLowerCase();
  if (first === 'log') return 'info';
  if (first === 'verbose') return 'trace';
  return (LOG_LEVELS as readonly string[]).includes(first) ? (first as LogLevel) : 'info';
}

/**
 * Nest's logger interface on pino. Services log objects (`{ msg, ...fields }`) or strings; the
 * trailing string argument Nest adds is the context; for `error`, a string before it is the stack.
 */
export class PinoLoggerService implements LoggerService {
  constructor(readonly pino: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: Level, message: unknown, rest: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const params = [...rest];
    const context = params.length > 0 && typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    const stack = level === 'error' && typeof params[0] === 'string' ? (params.shift() as string) : undefined;
    const fields: Record<string, unknown> = context ? { context } : {};
    let msg: string | undefined;
    if (message instanceof Error) {
      fields['err'] = redact(message);
      msg = message.message;
    } else if (message !== null && typeof message === 'object') {
      const { msg: text, message: alt, ...others } = message as Record<string, unknown>;
      Object.assign(fields, redact(others));
      msg = typeof text === 'string' ? text : typeof alt === 'string' ? alt : undefined;
    } else {
      msg = String(message);
    }
    if (stack) fields['stack'] = stack;
    const details = params.filter((p) => p !== undefined && p !== null);
    if (details.length > 0) fields['details'] = redact(details);
    this.pino[level](fields, msg);
  }
}

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

export type LogFormat = 'json' | 'pretty';

/**
 * LOG_FORMAT if set (json or pretty), else pretty for a person at a terminal and JSON lines for
 * everything else (log shippers, the tests that read the CLI's output).
 */
export function logFormat(env: string | undefined, isTty: boolean): LogFormat {
  const given = (env ?? '').trim().toLowerCase();
  if (given === 'json' || given === 'pretty') return given;
  return isTty ? 'pretty' : 'json';
}

const LEVEL_STYLE: Record<string, { label: string; color: string }> = {
  trace: { label: 'TRACE', color: '90' },
  debug: { label: 'DEBUG', color: '36' },
  info: { label: 'INFO ', color: '32' },
  warn: { label: 'WARN ', color: '33' },
  error: { label: 'ERROR', color: '31' },
  fatal: { label: 'FATAL', color: '35' },
};
const LINE_FIELDS = new Set(['level', 'time', 'service', 'context', 'msg', 'pid', 'hostname']);

/**
 * One readable line per record (time, level, service/context, message, the other fields as
 * key=value), colored when `color`; a record that is not JSON passes through as it is.
 */
export function formatPretty(line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const paint = (code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const style = LEVEL_STYLE[String(record['level'])] ?? { label: String(record['level']).toUpperCase().padEnd(5), color: '0' };
  const time = typeof record['time'] === 'string' ? record['time'].slice(11, 23) : '';
  const where = [record['service'], record['context']].filter((v) => typeof v === 'string' && v !== '').join('/');
  const extras = Object.entries(record)
    .filter(([key, value]) => !LINE_FIELDS.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? (/[\s"=]/.test(value) ? JSON.stringify(value) : value) : JSON.stringify(value)}`);
  const text = [paint('90', time), paint(style.color, style.label), where ? paint('90', `[${where}]`) : '', String(record['msg'] ?? ''), extras.length > 0 ? paint('90', extras.join(' ')) : '']
    .filter((part) => part !== '')
    .join(' ');
  return `${text}\n`;
}

/** A pino destination writing `formatPretty` lines to stdout, synchronously as the JSON one does. */
export function prettyDestination(color: boolean, write: (text: string) => void = (text) => void process.stdout.write(text)): DestinationStream {
  return { write: (line: string) => write(formatPretty(line, color)) };
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

const NEST_STARTUP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication', 'NestMicroservice']);

/**
 * Nest's logger interface on pino. Services log objects (`{ msg, ...fields }`) or strings; the
 * trailing string argument Nest adds is the context; for `error`, a string before it is the stack.
 */
export class PinoLoggerService implements LoggerService {
  constructor(readonly pino: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    // Nest's own start-up lines (every module loaded, every route mapped) are for debugging: at
    // info they bury the lines a person starting the server needs.
    const context = rest[rest.length - 1];
    this.write(typeof context === 'string' && NEST_STARTUP_CONTEXTS.has(context) ? 'debug' : 'info', message, rest);
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

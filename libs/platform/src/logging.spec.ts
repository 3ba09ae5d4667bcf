import { Writable } from 'node:stream';
import { Correlation } from '@borealis/messaging';
import { createLogger, formatPretty, logFormat, parseLevel, PinoLoggerService, prettyDestination, redact } from './logging';

function capture(level = 'info'): { lines: Record<string, unknown>[]; logger: PinoLoggerService } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: new PinoLoggerService(createLogger({ service: 'auth', level, destination })) };
}

describe('PinoLoggerService', () => {
  it('writes one JSON object per call with service, context, fields and the current request id', () => {
    const { lines, logger } = capture();
    Correlation.run('req-42', () => logger.log({ msg: 'token issued', clientId: 'c1' }, 'TokenService'));
    logger.warn('plain text', 'Other');
    expect(lines[0]).toMatchObject({ level: 'info', service: 'auth', context: 'TokenService', requestId: 'req-42', msg: 'token issued', clientId: 'c1' });
    expect(lines[1]).toMatchObject({ level: 'warn', context: 'Other', msg: 'plain text' });
    expect(lines[1]).not.toHaveProperty('requestId');
  });

  it('never writes secrets, at any depth', () => {
    const { lines, logger } = capture();
    logger.log({ msg: 'config', config: { BOREALIS_ADMIN_TOKEN: 'x'.repeat(40), DEVICE_CREDENTIAL_SECRET: 's', tokenUrl: 'https://h/t' }, headers: { authorization: 'Bearer abc' }, client_assertion: 'jwt' });
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('x'.repeat(40));
    expect(text).not.toContain('Bearer abc');
    expect(text).not.toContain('"jwt"');
    expect(text).toContain('https://h/t');
  });

  it('keeps the stack of errors and respects the level', () => {
    const { lines, logger } = capture('warn');
    logger.log('dropped');
    logger.error('failed', 'Error: boom\n    at x', 'Ctx');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'failed', context: 'Ctx', stack: expect.stringContaining('boom') });
  });

  it('understands pino and Nest level names', () => {
    expect(parseLevel(undefined)).toBe('info');
    expect(parseLevel('log,warn')).toBe('info');
    expect(parseLevel('debug')).toBe('debug');
    expect(parseLevel('verbose')).toBe('trace');
    expect(redact(new Error('e'))).toMatchObject({ type: 'Error', message: 'e' });
  });

  it("puts Nest's start-up lines (modules, routes) at debug, and the service's own at info", () => {
    const { lines, logger } = capture('info');
    logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
    logger.log('AuthModule dependencies initialized', 'InstanceLoader');
    logger.log('listening', 'Bootstrap');
    expect(lines.map((l) => l['msg'])).toEqual(['listening']);
    const verbose = capture('debug');
    verbose.logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
    expect(verbose.lines[0]).toMatchObject({ level: 'debug', context: 'RouterExplorer' });
  });
});

describe('pretty logs', () => {
  it('are chosen for a terminal unless LOG_FORMAT says otherwise, JSON for anything else', () => {
    expect(logFormat(undefined, true)).toBe('pretty');
    expect(logFormat(undefined, false)).toBe('json');
    expect(logFormat('json', true)).toBe('json');
    expect(logFormat('PRETTY', false)).toBe('pretty');
    expect(logFormat('yaml', false)).toBe('json');
  });

  it('write one readable line per record: time, level, service/context, message, the other fields', () => {
    const line = JSON.stringify({ level: 'warn', time: '2026-12-06T03:50:01.123Z', service: 'standalone', context: 'Gateway', msg: 'slow request', ms: 120, path: '/a b', secret: undefined });
    expect(formatPretty(line, false)).toBe('03:50:01.123 WARN  [standalone/Gateway] slow request ms=120 path="/a b"\n');
    expect(formatPretty(line, true)).toContain('\x1b[33mWARN \x1b[0m');
    expect(formatPretty('not json', false)).toBe('not json\n');
  });

  it('go through pino with secrets still masked', () => {
    const out: string[] = [];
    const logger = new PinoLoggerService(createLogger({ service: 'auth', level: 'info', destination: prettyDestination(false, (t) => out.push(t)) }));
    logger.log({ msg: 'token issued', clientId: 'c1', accessToken: 'eyJ.secret' }, 'TokenService');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[auth\/TokenService\] token issued clientId=c1 accessToken=\*\*\*\n$/);
  });
});

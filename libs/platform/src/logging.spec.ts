import { Writable } from 'node:stream';
import { Correlation } from '@borealis/messaging';
import { createLogger, parseLevel, PinoLoggerService, redact } from './logging';

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
});

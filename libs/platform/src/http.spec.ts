import { Body, Controller, Get, Param, Post, Req } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyRequest } from 'fastify';
import { Correlation } from '@borealis/messaging';
import { StandaloneConfig, TransportConfig, type TrustProxy } from './config';
import { configureHttpApp, createFastifyAdapter } from './http';

@Controller('echo')
class EchoController {
  @Post()
  echo(@Body() body: { n: number }): { n: number; requestId: string | undefined } {
    return { n: body.n, requestId: Correlation.requestId() };
  }

  @Get(':id')
  one(@Param('id') id: string): { id: string } {
    return { id };
  }
}

describe('HTTP app', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ controllers: [EchoController] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
    configureHttpApp(app);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(() => app.close());

  it('answers with the request id and keeps it in the async context through body parsing into the handler', async () => {
    const answers = await Promise.all(
      [1, 2, 3].map((n) =>
        app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json', 'x-request-id': `req-${n}` }, payload: JSON.stringify({ n, pad: 'x'.repeat(20_000 * n) }) }),
      ),
    );
    expect(answers.map((a) => a.headers['x-request-id'])).toEqual(['req-1', 'req-2', 'req-3']);
    expect(answers.map((a) => a.json())).toEqual([1, 2, 3].map((n) => ({ n, requestId: `req-${n}` })));
  });

  it('answers a URL with a broken percent-escape in problem+json, and keeps serving', async () => {
    const bad = await app.inject({ method: 'GET', url: '/echo/%E0%A4%A' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.json()).toMatchObject({ status: 400, code: 'invalid_argument', detail: expect.stringContaining('percent-escape') });
    expect((await app.inject({ method: 'GET', url: '/echo/%C3%A9' })).json()).toEqual({ id: 'é' });
  });
});

@Controller('ip')
class IpController {
  @Get()
  ip(@Req() request: FastifyRequest): { ip: string } {
    return { ip: request.ip };
  }
}

describe('the client address (TRUST_PROXY)', () => {
  async function appWith(trustProxy?: TrustProxy): Promise<NestFastifyApplication> {
    const moduleRef = await Test.createTestingModule({ controllers: [IpController] }).compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(trustProxy === undefined ? {} : { trustProxy }), { logger: false, bodyParser: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return app;
  }
  const ipSeen = async (app: NestFastifyApplication, remoteAddress: string, forwardedFor: string) =>
    (await app.inject({ method: 'GET', url: '/ip', remoteAddress, headers: { 'x-forwarded-for': forwardedFor } })).json<{ ip: string }>().ip;

  it('by default is the connection peer: a client cannot pick its own with X-Forwarded-For', async () => {
    const app = await appWith();
    try {
      expect(await ipSeen(app, '198.51.100.7', '203.0.113.1')).toBe('198.51.100.7');
    } finally {
      await app.close();
    }
  });

  it('behind one proxy (1) is the address the proxy appended, whatever the client wrote before it', async () => {
    const app = await appWith(1);
    try {
      expect(await ipSeen(app, '10.0.0.5', '203.0.113.1, 198.51.100.7')).toBe('198.51.100.7');
    } finally {
      await app.close();
    }
  });

  it('with a list of proxies believes only those', async () => {
    const app = await appWith('10.0.0.0/8');
    try {
      expect(await ipSeen(app, '10.0.0.5', '198.51.100.7')).toBe('198.51.100.7');
      expect(await ipSeen(app, '192.0.2.9', '198.51.100.7')).toBe('192.0.2.9');
    } finally {
      await app.close();
    }
  });

  it('is configured by TRUST_PROXY, which refuses "true"', () => {
    const parse = (TRUST_PROXY?: string) => TransportConfig.shape.TRUST_PROXY.parse(TRUST_PROXY);
    expect(parse()).toBe(false);
    expect(parse('false')).toBe(false);
    expect(parse('1')).toBe(1);
    expect(parse('10.0.0.0/8, 192.168.1.1')).toBe('10.0.0.0/8, 192.168.1.1');
    expect(() => parse('true')).toThrow(/any client choose its own address/);
    expect(() => parse('anything')).toThrow(/TRUST_PROXY must be/);
    expect(StandaloneConfig.shape.TRUST_PROXY.parse('2')).toBe(2);
  });
});

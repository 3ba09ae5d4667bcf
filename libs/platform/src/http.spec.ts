import { Body, Controller, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Correlation } from '@borealis/messaging';
import { configureHttpApp, createFastifyAdapter } from './http';

@Controller('echo')
class EchoController {
  @Post()
  echo(@Body() body: { n: number }): { n: number; requestId: string | undefined } {
    return { n: body.n, requestId: Correlation.requestId() };
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
});

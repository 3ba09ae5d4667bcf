import { Controller, Get } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { configureHttpApp, createFastifyAdapter } from './http';

@Controller()
class ShutdownController {
  @Get('slow')
  async slow(): Promise<{ done: true }> {
    await sleep(600);
    return { done: true };
  }
}

async function start(closeGraceMs: number): Promise<{ app: NestFastifyApplication; port: number }> {
  const moduleRef = await Test.createTestingModule({ controllers: [ShutdownController] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter({ closeGraceMs }), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await app.listen(0, '127.0.0.1');
  return { app, port: (app.getHttpServer().address() as AddressInfo).port };
}

describe('HTTP shutdown', () => {
  it('answers a request being handled when close() is called, then closes its keep-alive connection at once (not after the keep-alive timeout)', async () => {
    const { app, port } = await start(10_000);
    const answer = fetch(`http://127.0.0.1:${port}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
    await sleep(100);
    const startedAt = Date.now();
    await app.close();
    const closedAfterMs = Date.now() - startedAt;
    expect(await answer).toEqual({ status: 200, body: { done: true } });
    // The handler's remaining 500 ms, and a little.
    expect(closedAfterMs).toBeLessThan(3_000);
  });

  it('cuts a connection still sending its request once the grace is over', async () => {
    const { app, port } = await start(300);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    // Headers begun and never finished, as a slow or hostile client sends them.
    socket.write('GET /slow HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    await sleep(100);
    const startedAt = Date.now();
    await app.close();
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    await closed;
  });
});

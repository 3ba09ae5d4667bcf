// The end-to-end benchmark's baseline: a bare Fastify server with one route at the send path that
// parses the same JSON body (Fastify's own parser) and answers an id, as the push API does, and
// nothing else: no auth, no validation, no storage, no delivery. What one HTTP request costs on this
// machine under the same client; the benchmark divides the push's CPU by it.
//
//   node tools/bench/lib/bare-fastify.mjs   prints {"event":"ready","port":N} and serves until SIGTERM
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
app.post('/push/public/api/v1/projects/:projectId/messages', async (request) => {
  const body = request.body;
  if (body === null || typeof body !== 'object') throw Object.assign(new Error('body must be an object'), { statusCode: 400 });
  return { id: randomUUID() };
});

await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ event: 'ready', port: app.server.address().port }) + '\n');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));

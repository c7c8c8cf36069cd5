/**
 * The `hello` baseline: a bare Fastify route returning a small JSON, served
 * like the service (same node, one process per port), so its throughput is
 * the HTTP ceiling of this machine for the same load generator.
 */
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 3900);
const app = Fastify({ logger: false, keepAliveTimeout: 72_000 });
app.get('/hello', async () => ({ hello: 'world' }));
app.get('/health', async () => ({ status: 'ok' }));
app.get('/ready', async () => ({ status: 'ready' }));
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
await app.listen({ port, host: '127.0.0.1' });

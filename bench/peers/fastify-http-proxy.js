// @fastify/http-proxy (undici underneath): the Fastify ecosystem's reverse proxy.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const [, , port, upstream] = process.argv;
const app = Fastify({ logger: false });
await app.register(proxy, { upstream, undici: { connections: 256, pipelining: 1 } });
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.stdout.write('ready\n');

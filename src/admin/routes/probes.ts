// Liveness and readiness probes: never behind auth, so orchestrators can always ask.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../context.js';

export function probeRoutes(app: FastifyInstance, context: AdminContext): void {
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => {
    const ready = context.ready();
    return reply.code(ready ? 200 : 503).send({ ready });
  });
}

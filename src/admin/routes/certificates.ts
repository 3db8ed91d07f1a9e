// GET /certificates (SPEC §13): the edge listener's certificate pairs as they serve now —
// SAN names, expiry, serial, file and when each was loaded (a rotation shows as a new serial
// and loadedAt). An empty list without a TLS listener.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../context.js';

export function certificateRoutes(app: FastifyInstance, context: AdminContext): void {
  app.get('/certificates', async () => context.certificates?.() ?? []);
}

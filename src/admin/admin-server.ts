// The admin API: Fastify on its own listener (never the data plane). Auth, error shape and
// body validation are set here once; routes live one resource a file in routes/.
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { SwitchyardError } from '../errors.js';
import { NotPropagatedError } from '../cluster/primary.js';
import { bearerChecker } from './auth.js';
import type { AdminContext } from './context.js';
import { probeRoutes } from './routes/probes.js';
import { routingRoutes } from './routes/routing.js';
import { reloadRoutes } from './routes/reload.js';
import { fleetRoutes } from './routes/fleet.js';
import { rolloutRoutes } from './routes/rollout.js';
import { targetRoutes } from './routes/targets.js';
import { certificateRoutes } from './routes/certificates.js';
import { DASHBOARD_PATHS, dashboardRoutes } from './routes/dashboard.js';

const PROBES = ['/healthz', '/readyz'];

export function buildAdminServer(context: AdminContext): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // Unknown keys and wrong types are errors, never silently dropped or coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });

  if (context.token !== '') {
    const check = bearerChecker(context.token);
    // The dashboard page and its assets hold no data (the calls it makes need the token).
    const OPEN_ROUTES = new Set([...PROBES, ...DASHBOARD_PATHS, ...(context.metricsPublic ? ['/metrics'] : [])]);
    app.addHook('onRequest', async (request) => {
      const path = request.url.split('?', 1)[0]!;
      if (!OPEN_ROUTES.has(path)) check(request.headers.authorization);
    });
  }

  // A bodiless POST may still say it is JSON (curl -H ...); treat an empty body as none.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, null);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new SwitchyardError('INVALID_BODY', `malformed JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((error: FastifyError | SwitchyardError, request, reply) => {
    if (error instanceof SwitchyardError) return reply.code(error.status).send(error.toJSON());
    if (error.validation !== undefined) {
      const message = error.validation.map((item) => {
        const allowed = (item.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
        return `${item.instancePath || 'body'} ${item.message ?? 'is invalid'}${Array.isArray(allowed) ? `: ${allowed.join(', ')}` : ''}`;
      }).join('; ');
      return reply.code(400).send(new SwitchyardError('INVALID_BODY', message).toJSON());
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send(new SwitchyardError('INVALID_BODY', error.message).toJSON());
    }
    context.logger.error({ err: error, url: request.url }, 'admin request failed');
    return reply.code(500).send(new SwitchyardError('INTERNAL').toJSON());
  });

  // SPEC §15: a change's 2xx promises that the next request follows it on every worker.
  const propagated = context.propagated;
  if (propagated !== undefined) {
    app.addHook('onSend', async (request, reply, payload) => {
      if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode >= 300) return payload;
      try {
        await propagated();
        return payload;
      } catch (error) {
        if (!(error instanceof NotPropagatedError)) throw error;
        reply.code(503).type('application/json; charset=utf-8');
        return JSON.stringify(new SwitchyardError('NOT_PROPAGATED', error.message, { seq: error.seq, missing: error.missing }).toJSON());
      }
    });
  }

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(new SwitchyardError('NOT_FOUND', `no route ${request.method} ${request.url}`).toJSON());
  });

  probeRoutes(app, context);
  routingRoutes(app, context);
  reloadRoutes(app, context);
  fleetRoutes(app, context);
  rolloutRoutes(app, context);
  targetRoutes(app, context);
  certificateRoutes(app, context);
  dashboardRoutes(app, context);
  app.get('/metrics', async (_request, reply) => reply.type(context.metrics.registry.contentType)
    .send(await (context.scrape?.() ?? context.metrics.registry.metrics())));
  return app;
}

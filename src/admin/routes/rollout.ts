// Canary rollouts: POST /rollout starts one (202), GET /rollout shows it (step, time left,
// live window metrics, verdict history), abort and promote end it.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { AdminContext } from '../context.js';
import { actorOf } from './routing.js';

const RolloutBody = Type.Object({
  pool: Type.String({ minLength: 1 }),
  steps: Type.Array(Type.Integer(), { minItems: 1, maxItems: 100 }),
  intervalMs: Type.Integer({ minimum: 100, maximum: 86_400_000 }),
  maxErrorRate: Type.Number({ minimum: 0, maximum: 1 }),
  maxP99Ms: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  minRequests: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false });

/** Without `minRequests`, a window needs this much evidence before it is judged. */
const DEFAULT_MIN_REQUESTS = 20;

export function rolloutRoutes(app: FastifyInstance, context: AdminContext): void {
  app.post('/rollout', { schema: { body: RolloutBody } }, async (request, reply) => {
    const body = request.body as Static<typeof RolloutBody>;
    const rollout = await context.rollouts.begin({
      pool: body.pool,
      steps: body.steps,
      intervalMs: body.intervalMs,
      maxErrorRate: body.maxErrorRate,
      ...(body.maxP99Ms === undefined ? {} : { maxP99Ms: body.maxP99Ms }),
      minRequests: body.minRequests ?? DEFAULT_MIN_REQUESTS,
    }, actorOf(request, context.token));
    return reply.code(202).send({ rollout: { ...rollout, windowStart: undefined } });
  });

  app.get('/rollout', async () => ({ rollout: await context.rollouts.view() }));

  app.post('/rollout/abort', async (request) => {
    const rollout = await context.rollouts.abort(actorOf(request, context.token));
    return { rollout: { ...rollout, windowStart: undefined } };
  });

  app.post('/rollout/promote', async (request) => {
    const rollout = await context.rollouts.promote(actorOf(request, context.token));
    return { rollout: { ...rollout, windowStart: undefined } };
  });
}

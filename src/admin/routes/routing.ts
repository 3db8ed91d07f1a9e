// The routing resource: read it, flip it, weight it, roll it back. Each mutation is one
// compare-and-set through RoutingControl and answers with the new status.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { AdminContext } from '../context.js';
import type { Change } from '../../state/routing-control.js';
import { etag, parseIfMatch } from '../if-match.js';
import { statusView } from '../status-view.js';
import { tokenId } from '../auth.js';
import { fleetPools } from '../../state/fleet.js';

const common = {
  force: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String({ maxLength: 500 })),
};
const FlipBody = Type.Object({ pool: Type.String({ minLength: 1 }), ...common }, { additionalProperties: false });
// Weight values are checked by the routing rules (INVALID_WEIGHTS), not the schema (INVALID_BODY).
const WeightsBody = Type.Object({ weights: Type.Record(Type.String(), Type.Unknown()), ...common }, { additionalProperties: false });
const StatusQuery = Type.Object({ fleet: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])) }, { additionalProperties: false });
const RollbackBody = Type.Union([Type.Object(common, { additionalProperties: false }), Type.Null()]);

type Common = { force?: boolean; reason?: string };

export function routingRoutes(app: FastifyInstance, context: AdminContext): void {
  const status = (state = context.control.current) => statusView({
    state,
    pools: context.pools().pools,
    store: context.store,
    instance: context.instance,
    discovery: (name) => context.pools().discovery(name),
  });

  const mutate = async (request: FastifyRequest, reply: FastifyReply, change: Change, body: Common | null) => {
    const state = await context.control.change({
      change,
      ifMatch: parseIfMatch(request.headers['if-match']),
      force: body?.force,
      reason: body?.reason,
      actor: actorOf(request, context.token),
    });
    // Body and ETag from the same committed state, even if another change lands meanwhile.
    return reply.header('etag', etag(state.revision)).send(status(state));
  };

  app.get('/status', { schema: { querystring: StatusQuery } }, async (request, reply) => {
    const body: Record<string, unknown> = status();
    const workers = context.workers?.();
    if (workers !== undefined) body.workers = workers;
    // The edge listener's certificates (SPEC §13): `switchyard status` warns about the ones near expiry.
    const certificates = context.certificates?.() ?? null;
    if (certificates !== null) body.certificates = certificates;
    if ((request.query as Static<typeof StatusQuery>).fleet === '1') {
      const instances = await context.fleet.instances();
      body.fleet = { instances: instances.length, storeUp: context.store.up, pools: fleetPools(instances) };
    }
    return reply.header('etag', etag(context.control.current.revision)).send(body);
  });

  app.post('/flip', { schema: { body: FlipBody } }, async (request, reply) => {
    const body = request.body as Static<typeof FlipBody>;
    return mutate(request, reply, { kind: 'flip', pool: body.pool }, body);
  });

  app.put('/weights', { schema: { body: WeightsBody } }, async (request, reply) => {
    const body = request.body as Static<typeof WeightsBody>;
    return mutate(request, reply, { kind: 'weights', weights: body.weights as Record<string, number> }, body);
  });

  app.post('/rollback', { schema: { body: RollbackBody } }, async (request, reply) => {
    const body = (request.body ?? null) as Common | null;
    return mutate(request, reply, { kind: 'rollback' }, body);
  });
}

/** "who" for the audit trail: the caller's self-declared name (CLI sends it), how it authenticated, and from where. */
export function actorOf(request: FastifyRequest, token: string): string {
  const declared = request.headers['x-switchyard-actor'];
  const name = typeof declared === 'string' && /^[\w.@-]{1,64}$/.test(declared) ? declared : 'anonymous';
  const via = token === '' ? '' : ` ${tokenId(token)}`;
  return `${name}@${request.ip}${via}`;
}

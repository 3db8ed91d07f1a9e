// The fleet and its history: GET /instances (live heartbeats) and GET /events (audit trail
// of routing changes: who, when, from, to, why), both from the state store.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SwitchyardError } from '../../errors.js';
import type { AdminContext } from '../context.js';

const EventsQuery = Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })) }, { additionalProperties: false });
const DEFAULT_EVENTS = 50;

export function fleetRoutes(app: FastifyInstance, context: AdminContext): void {
  app.get('/instances', async () => ({ storeUp: context.store.up, instances: await context.fleet.instances() }));

  app.get('/events', { schema: { querystring: EventsQuery } }, async (request) => {
    const limit = Number((request.query as Static<typeof EventsQuery>).limit ?? DEFAULT_EVENTS);
    if (!context.store.up) throw new SwitchyardError('STATE_UNAVAILABLE', 'the state store is unreachable; events cannot be read');
    try {
      return { events: await context.store.recentEvents(limit) };
    } catch (err) {
      throw new SwitchyardError('STATE_UNAVAILABLE', `the state store failed: ${(err as Error).message}`);
    }
  });
}

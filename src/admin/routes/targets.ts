// The targets of a pool as a resource (SPEC §11): list, change state or weight, add, remove.
// Each mutation is one compare-and-set of the shared targets document (TargetControl); the
// live set applies it before the answer, so the next request already sees it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SwitchyardError } from '../../errors.js';
import type { AdminContext } from '../context.js';
import { etag, parseIfMatch } from '../if-match.js';
import { actorOf } from './routing.js';
import { targetView, type TargetView } from '../target-view.js';
import { fleetTargets, type FleetTarget } from '../../state/fleet.js';
import { parseTargetUrl } from '../../config/validate.js';
import {
  ADMIN_STATES, DEFAULT_TARGET_WEIGHT, MAX_TARGET_WEIGHT, MIN_TARGET_WEIGHT, isTargetId, targetId,
  type AdminState, type TargetOverride,
} from '../../pool/target-admin.js';
import type { Target } from '../../pool/target.js';
import { Flag } from '../../pool/health-flags.js';
import type { UpstreamPool } from '../../pool/upstream-pool.js';
import type { TargetEventState } from '../../state/store.js';

// An enum (not a union of literals) so a wrong value is one clear error naming the allowed ones.
const State = Type.Unsafe<AdminState>({ type: 'string', enum: [...ADMIN_STATES] });
const Weight = Type.Integer({ minimum: MIN_TARGET_WEIGHT, maximum: MAX_TARGET_WEIGHT });
const common = { force: Type.Optional(Type.Boolean()), reason: Type.Optional(Type.String({ maxLength: 500 })) };
const PutBody = Type.Object({ state: Type.Optional(State), weight: Type.Optional(Weight), ...common },
  { additionalProperties: false, minProperties: 1 });
const PostBody = Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }), state: Type.Optional(State), weight: Type.Optional(Weight),
  reason: common.reason }, { additionalProperties: false });
const DeleteBody = Type.Union([Type.Object(common, { additionalProperties: false }), Type.Null()]);
const Params = Type.Object({ pool: Type.String(), id: Type.String() });
const PoolParams = Type.Object({ pool: Type.String() });
const ListQuery = Type.Object({ fleet: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])) }, { additionalProperties: false });

export function targetRoutes(app: FastifyInstance, context: AdminContext): void {
  const poolOf = (name: string): UpstreamPool => {
    const pool = context.pools().get(name);
    if (pool === undefined) throw new SwitchyardError('UNKNOWN_POOL', `no pool named ${JSON.stringify(name)}`, undefined, 404);
    return pool;
  };
  /** `id` as normalizeId (or targetId) writes it. */
  const liveTarget = (pool: UpstreamPool, id: string): Target => {
    const target = pool.targets.find((candidate) => candidate.id === id);
    if (target === undefined) throw new SwitchyardError('UNKNOWN_TARGET', `pool ${pool.name} has no target ${id}`, undefined, 404);
    return target;
  };
  const answer = (reply: FastifyReply, code: number, target: Target) =>
    reply.code(code).header('etag', etag(context.targets.current.revision)).send(targetView(target));

  app.get('/pools/:pool/targets', { schema: { params: PoolParams, querystring: ListQuery } }, async (request, reply) => {
    const pool = poolOf((request.params as Static<typeof PoolParams>).pool);
    const now = Date.now();
    const views: Array<TargetView & { fleet?: FleetTarget }> = pool.targets.map((target) => targetView(target, now));
    // ?fleet=1: each target across every live instance (heartbeats; this instance's own view is live).
    if ((request.query as Static<typeof ListQuery>).fleet === '1') {
      const across = fleetTargets(await context.fleet.instancesFresh(), pool.name);
      for (const view of views) view.fleet = across[view.id] ?? { instances: 0, inflight: 0, drainedEverywhere: true };
    }
    return reply.header('etag', etag(context.targets.current.revision)).send(views);
  });

  app.put('/pools/:pool/targets/:id', { schema: { params: Params, body: PutBody } }, async (request, reply) => {
    const { pool: name, id: text } = request.params as Static<typeof Params>;
    const id = normalizeId(text);
    const body = request.body as Static<typeof PutBody>;
    const pool = poolOf(name);
    if (body.state === undefined && body.weight === undefined) throw new SwitchyardError('INVALID_BODY', 'body needs "state" or "weight"');
    if (liveTarget(pool, id).health.has(Flag.REMOVED)) {
      throw new SwitchyardError('UNKNOWN_TARGET', `target ${id} of pool ${name} is being removed`, undefined, 404);
    }
    await context.targets.change({
      pool: name, id, ...changeContext(request, context, body.reason),
      check: () => {
        if (body.state !== undefined && body.state !== 'ready' && body.force !== true) guardLastTarget(pool, liveTarget(pool, id));
      },
      edit: (before) => compact({ ...before, ...(body.state === undefined ? {} : { state: body.state }),
        ...(body.weight === undefined ? {} : { weight: body.weight }) }),
      describe: (before, after) => ({ from: declared(before ?? {}), to: declared(after ?? {}) }),
    });
    return answer(reply, 200, liveTarget(pool, id));
  });

  app.post('/pools/:pool/targets', { schema: { params: PoolParams, body: PostBody } }, async (request, reply) => {
    const { pool: name } = request.params as Static<typeof PoolParams>;
    const body = request.body as Static<typeof PostBody>;
    const pool = poolOf(name);
    const url = parseTargetUrl(body.url);
    if (typeof url === 'string') throw new SwitchyardError('INVALID_TARGET', url);
    const id = targetId(url);
    await context.targets.change({
      pool: name, id, ...changeContext(request, context, body.reason),
      check: () => {
        const existing = pool.targets.find((target) => target.id === id);
        // A target still draining out after a removal may come back; any other is a duplicate.
        if (existing !== undefined && !existing.health.has(Flag.REMOVED)) {
          throw new SwitchyardError('DUPLICATE_TARGET', `pool ${name} already has target ${id} (${existing.url})`);
        }
        // As in the file (one target, one pool): draining a host in one pool must take it out of rotation.
        const elsewhere = context.pools().pools.find((other) => other !== pool
          && other.targets.some((target) => target.id === id && !target.health.has(Flag.REMOVED)));
        if (elsewhere !== undefined) {
          throw new SwitchyardError('DUPLICATE_TARGET', `target ${id} is already in pool ${elsewhere.name}; a target belongs to one pool`);
        }
      },
      edit: () => compact({ url: url.origin, state: body.state, weight: body.weight }),
      describe: (_before, after) => ({ from: null, to: declared(after ?? {}) }),
    });
    const added = liveTarget(pool, id);
    return answer(reply.header('location', `/pools/${name}/targets/${id}`), 201, added);
  });

  app.delete('/pools/:pool/targets/:id', { schema: { params: Params, body: DeleteBody } }, async (request, reply) => {
    const { pool: name, id: text } = request.params as Static<typeof Params>;
    const id = normalizeId(text);
    const body = (request.body ?? null) as Static<typeof DeleteBody>;
    const pool = poolOf(name);
    const target = liveTarget(pool, id);
    if (target.health.has(Flag.REMOVED)) return answer(reply, 202, target); // already leaving: nothing to change
    await context.targets.change({
      pool: name, id, ...changeContext(request, context, body?.reason),
      check: () => {
        if (body?.force !== true) guardLastTarget(pool, target);
      },
      // A target the file or DNS names is remembered as removed (a reload or the next answer
      // does not bring it back), whoever added it; one only the API added is forgotten.
      edit: () => (context.pools().namedBeyondApi(name, id) ? { removed: true } : undefined),
      describe: (before) => ({ from: declared(before ?? {}, target.url), to: null }),
    });
    return answer(reply, 202, target);
  });
}

/**
 * A path's target id as the live set writes it: `host:port` with the host lower-cased and an
 * IPv6 address in canonical form (`[0:0::1]:80` → `[::1]:80`), as the URL parser does for targets.
 * Throws INVALID_TARGET for anything else.
 */
function normalizeId(text: string): string {
  if (!isTargetId(text)) throw new SwitchyardError('INVALID_TARGET', `${JSON.stringify(text)} is not a target id (host:port)`);
  try {
    return targetId(new URL(`http://${text}`));
  } catch {
    throw new SwitchyardError('INVALID_TARGET', `${JSON.stringify(text)} is not a target id (host:port)`);
  }
}

function changeContext(request: FastifyRequest, context: AdminContext, reason: string | undefined) {
  return { ifMatch: parseIfMatch(request.headers['if-match']), actor: actorOf(request, context.token), reason };
}

/**
 * SPEC §11 LAST_TARGET: fencing `target` must not leave a pool that has weight without a ready
 * target (HAProxy would happily drain the last server; a blue-green pool with traffic answering
 * 503 is what this product exists to prevent). A target that is not ready now changes nothing.
 */
function guardLastTarget(pool: UpstreamPool, target: Target): void {
  if (pool.weight === 0 || !target.ready) return;
  if (pool.targets.some((other) => other !== target && other.ready)) return;
  throw new SwitchyardError('LAST_TARGET',
    `${target.id} is the last ready target of pool ${pool.name}, which has weight ${pool.weight} (use force to override)`,
    { pool: pool.name, target: target.id });
}

function declared(override: TargetOverride | undefined, url?: string): TargetEventState | null {
  if (override === undefined || override.removed === true) return null;
  return {
    state: override.state ?? 'ready', weight: override.weight ?? DEFAULT_TARGET_WEIGHT,
    ...(override.url ?? url) === undefined ? {} : { url: (override.url ?? url)! },
  };
}

/** Leaves out keys that only restate a default, so the shared document holds real differences only. */
function compact(override: { url?: string | undefined; state?: AdminState | undefined; weight?: number | undefined; removed?: boolean }): TargetOverride | undefined {
  const result: TargetOverride = {};
  if (override.url !== undefined) result.url = override.url;
  if (override.state !== undefined && override.state !== 'ready') result.state = override.state;
  if (override.weight !== undefined && override.weight !== DEFAULT_TARGET_WEIGHT) result.weight = override.weight;
  return Object.keys(result).length === 0 ? undefined : result;
}

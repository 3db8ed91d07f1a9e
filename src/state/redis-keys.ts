// Every Redis key and channel Switchyard uses, all under the configured prefix, so two
// fleets with different prefixes can share one Redis without seeing each other.
// (On Redis Cluster, put the prefix in braces — `{switchyard}:` — so all keys share a slot.)

export interface RedisKeys {
  /** Hash: `revision`, `state` (JSON). */
  state: string;
  /** List of change events (JSON), newest first. */
  events: string;
  /** Pub/sub channel announcing each committed state (JSON). */
  changes: string;
  /** Hash: `version`, `phase`, `rollout` (JSON). */
  rollout: string;
  /** String with a TTL: a lease's holder. */
  lease(name: string): string;
  /** String with a TTL: one instance's heartbeat (JSON). */
  instance(id: string): string;
  /** SCAN pattern matching every instance key. */
  instancePattern: string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    state: `${prefix}state`,
    events: `${prefix}events`,
    changes: `${prefix}changes`,
    rollout: `${prefix}rollout`,
    lease: (name) => `${prefix}lease:${name}`,
    instance: (id) => `${prefix}instance:${id}`,
    instancePattern: `${prefix}instance:*`,
  };
}

/**
 * Compare-and-set on the revision, atomically in Redis: write the state, record the event,
 * and publish — or do nothing and return 0 when the stored revision is not the expected one.
 * KEYS: state hash, events list. ARGV: expected revision ('' = only if absent), new revision,
 * state JSON, channel, event JSON ('' = none), events to keep.
 */
export const COMPARE_AND_SET_LUA = `
local current = redis.call('HGET', KEYS[1], 'revision')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'revision', ARGV[2], 'state', ARGV[3])
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[5])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
end
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1
`;

/**
 * Stores a rollout if the stored one is still at the expected version ('' = only when no
 * rollout is running). KEYS: rollout hash. ARGV: expected version, new version, phase, JSON.
 */
export const PUT_ROLLOUT_LUA = `
local version = redis.call('HGET', KEYS[1], 'version')
local phase = redis.call('HGET', KEYS[1], 'phase')
if ARGV[1] == '' then
  if version and phase == 'running' then return 0 end
elseif version ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'phase', ARGV[3], 'rollout', ARGV[4])
return 1
`;

/** Takes a free (or expired) lease, or renews our own. KEYS: lease. ARGV: owner, ttl ms. */
export const HOLD_LEASE_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** Gives a lease up, only if we hold it. KEYS: lease. ARGV: owner. */
export const RELEASE_LEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

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
  /** Hash: `revision`, `state` (the targets document, JSON; SPEC §11). */
  targets: string;
  /** Pub/sub channel announcing each committed targets document (JSON). */
  targetChanges: string;
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
    targets: `${prefix}targets`,
    targetChanges: `${prefix}targets-changes`,
    rollout: `${prefix}rollout`,
    lease: (name) => `${prefix}lease:${name}`,
    instance: (id) => `${prefix}instance:${id}`,
    instancePattern: `${prefix}instance:*`,
  };
}

/**
 * Every mutating script starts with this guard (SPEC §10: a mutation that does not commit within
 * `state.opTimeoutMs` is never applied later). ARGV[1] is the commit's deadline in milliseconds
 * on Redis's own clock (see deadline.ts); a script that runs after it — held in a socket buffer
 * while Redis was frozen, or delivered by TCP after a partition healed — changes nothing and
 * returns -1. Reading TIME before writing needs Redis >= 5 (scripts replicate their effects).
 */
const DEADLINE_GUARD = `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then return -1 end
`;

/** What a guarded script returns when it ran past its deadline and changed nothing. */
export const PAST_DEADLINE = -1;

/**
 * Redis's clock in milliseconds, read on the node that holds KEYS[1] (on a Cluster, the node
 * that will run the commit, whose clock the deadline is checked against).
 */
export const NOW_LUA = `
local now = redis.call('TIME')
return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
`;

/**
 * The commit half of both compare-and-set scripts, once the revision matched: write the
 * document, record the event, announce the document. KEYS/ARGV as below.
 */
const WRITE_AND_PUBLISH = `
redis.call('HSET', KEYS[1], 'revision', ARGV[3], 'state', ARGV[4])
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[6])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
end
redis.call('PUBLISH', ARGV[5], ARGV[4])
return 1
`;

/**
 * Compare-and-set on the revision, atomically in Redis: write the state, record the event,
 * and publish — or do nothing and return 0 when the stored revision is not the expected one.
 * KEYS: state hash, events list. ARGV: deadline, expected revision ('' = only if absent), new
 * revision, state JSON, channel, event JSON ('' = none), events to keep.
 */
export const COMPARE_AND_SET_LUA = `${DEADLINE_GUARD}
local current = redis.call('HGET', KEYS[1], 'revision')
if ARGV[2] == '' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
${WRITE_AND_PUBLISH}`;

/**
 * The same for the targets document (SPEC §11), whose revisions start at 0 (emptyTargetsState):
 * nothing stored counts as revision 0, and an expected '' or '0' means "only if nothing is
 * stored" (or only a document at revision 0) — the memory store's `(stored?.revision ?? 0) === (expected ?? 0)`.
 * KEYS: targets hash, events list. ARGV: as COMPARE_AND_SET_LUA.
 */
export const COMPARE_AND_SET_TARGETS_LUA = `${DEADLINE_GUARD}
local current = redis.call('HGET', KEYS[1], 'revision') or '0'
local expected = ARGV[2]
if expected == '' then expected = '0' end
if current ~= expected then return 0 end
${WRITE_AND_PUBLISH}`;

/**
 * Stores a rollout if the stored one is still at the expected version ('' = only when no
 * rollout is running). KEYS: rollout hash. ARGV: deadline, expected version, new version, phase, JSON.
 */
export const PUT_ROLLOUT_LUA = `${DEADLINE_GUARD}
local version = redis.call('HGET', KEYS[1], 'version')
local phase = redis.call('HGET', KEYS[1], 'phase')
if ARGV[2] == '' then
  if version and phase == 'running' then return 0 end
elseif version ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[3], 'phase', ARGV[4], 'rollout', ARGV[5])
return 1
`;

/** Takes a free (or expired) lease, or renews our own. KEYS: lease. ARGV: deadline, owner, ttl ms. */
export const HOLD_LEASE_LUA = `${DEADLINE_GUARD}
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`;

/** Gives a lease up, only if we hold it. KEYS: lease. ARGV: deadline, owner. */
export const RELEASE_LEASE_LUA = `${DEADLINE_GUARD}
if redis.call('GET', KEYS[1]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** Records an event that is not a routing change. KEYS: events list. ARGV: deadline, event JSON, events to keep. */
export const RECORD_EVENT_LUA = `${DEADLINE_GUARD}
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
return 1
`;

/** One instance's heartbeat: a late one would bring back a stale report. KEYS: instance. ARGV: deadline, JSON, ttl ms. */
export const HEARTBEAT_LUA = `${DEADLINE_GUARD}
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

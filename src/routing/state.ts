// The routing state and the changes an operator can make to it. Pure: every function
// takes a state and returns the next one (or throws a SwitchyardError), with no I/O.
import { SwitchyardError } from '../errors.js';
import { completeWeights, weightProblem } from './weights.js';

export type Weights = Record<string, number>;

export interface RoutingState {
  revision: number;
  weights: Weights;
  /** What `rollback` returns to; after a rollback it holds the weights rolled back from. */
  previous: { revision: number; weights: Weights } | null;
  updatedAt: string;
  updatedBy: string;
  reason?: string;
}

export interface ChangeContext {
  actor: string;
  reason?: string;
  now?: Date;
}

export function initialState(weights: Weights, poolNames: readonly string[], context: ChangeContext): RoutingState {
  return stamp({ revision: 1, weights: completeWeights(weights, poolNames), previous: null }, context);
}

export function flip(state: RoutingState, pool: string, poolNames: readonly string[], context: ChangeContext): RoutingState {
  if (!poolNames.includes(pool)) throw new SwitchyardError('UNKNOWN_POOL', `no pool named ${pool}`);
  return setWeights(state, { [pool]: 100 }, poolNames, context);
}

export function setWeights(state: RoutingState, weights: Weights, poolNames: readonly string[], context: ChangeContext): RoutingState {
  const problem = weightProblem(weights, poolNames);
  if (problem !== null) {
    throw new SwitchyardError(problem.kind === 'unknown-pool' ? 'UNKNOWN_POOL' : 'INVALID_WEIGHTS', problem.message);
  }
  return next(state, completeWeights(weights, poolNames), context);
}

export function rollback(state: RoutingState, poolNames: readonly string[], context: ChangeContext): RoutingState {
  if (state.previous === null) throw new SwitchyardError('NO_PREVIOUS');
  return next(state, completeWeights(state.previous.weights, poolNames), context);
}

/** Pools that the change gives weight to (or more weight than before): these must be healthy. */
export function poolsGainingWeight(from: Weights, to: Weights): string[] {
  return Object.keys(to).filter((pool) => (to[pool] ?? 0) > (from[pool] ?? 0));
}

export function sameWeights(a: Weights, b: Weights): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? 0) !== (b[key] ?? 0)) return false;
  return true;
}

export type PoolRole = 'active' | 'standby' | 'split';

export function poolRole(weight: number): PoolRole {
  if (weight >= 100) return 'active';
  if (weight <= 0) return 'standby';
  return 'split';
}

function next(state: RoutingState, weights: Weights, context: ChangeContext): RoutingState {
  return stamp({ revision: state.revision + 1, weights, previous: { revision: state.revision, weights: state.weights } }, context);
}

function stamp(partial: Pick<RoutingState, 'revision' | 'weights' | 'previous'>, context: ChangeContext): RoutingState {
  const state: RoutingState = {
    ...partial,
    updatedAt: (context.now ?? new Date()).toISOString(),
    updatedBy: context.actor,
  };
  if (context.reason !== undefined) state.reason = context.reason;
  return state;
}

// Weights are integers 0..100 over known pools summing to 100. Shared by the config check
// and the admin API so both say the same thing about the same mistake.

export interface WeightProblem {
  kind: 'unknown-pool' | 'invalid';
  key?: string;
  message: string;
}

export function weightProblem(weights: Record<string, unknown>, poolNames: readonly string[]): WeightProblem | null {
  let sum = 0;
  for (const [pool, weight] of Object.entries(weights)) {
    if (!poolNames.includes(pool)) return { kind: 'unknown-pool', key: pool, message: `no pool named ${pool}` };
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
      return { kind: 'invalid', key: pool, message: `weight must be an integer from 0 to 100 (got ${JSON.stringify(weight)})` };
    }
    sum += weight;
  }
  if (sum !== 100) return { kind: 'invalid', message: `weights must sum to 100 (got ${sum})` };
  return null;
}

/** Every configured pool with its weight; pools the caller left out get 0. */
export function completeWeights(weights: Record<string, number>, poolNames: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pool of poolNames) out[pool] = weights[pool] ?? 0;
  return out;
}

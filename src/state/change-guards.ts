// The checks every compare-and-set change runs (routing-control.ts, target-control.ts): the
// store must be up, the caller's If-Match must name the stored revision, and a store that
// fails mid-change is a 503, never a 500.
import { SwitchyardError } from '../errors.js';
import type { StateStore } from './store.js';

/**
 * Refuses at once (503 STATE_UNAVAILABLE) while the store is down: no caller waits for a store
 * known to be gone. `meanwhile` says what keeps running (e.g. `routing continues on revision 7`).
 */
export function requireStoreUp(store: Pick<StateStore, 'up' | 'kind' | 'health'>, meanwhile: string): void {
  if (store.up) return;
  throw new SwitchyardError('STATE_UNAVAILABLE', `the ${store.kind} state store is unreachable (${store.health.error ?? 'down'}); ${meanwhile}`);
}

/**
 * 412 REVISION_MISMATCH when the caller based its change on another revision (If-Match; NaN
 * when the header named none). `what` names the revision (`revision`, `targets revision`).
 */
export function checkIfMatch(ifMatch: number | undefined, stored: number, what: string): void {
  if (ifMatch === undefined || ifMatch === stored) return;
  const asked = Number.isNaN(ifMatch) ? 'If-Match names no revision' : `not ${ifMatch}`;
  throw new SwitchyardError('REVISION_MISMATCH', `${what} is ${stored}, ${asked}`, { revision: stored });
}

/** A store that fails mid-change is a 503, never a 500: nothing was committed (nor will be: SPEC §10). */
export async function unavailableOnError<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (err) {
    if (err instanceof SwitchyardError) throw err; // the store's own 503, with its reason
    throw new SwitchyardError('STATE_UNAVAILABLE', `the state store failed: ${(err as Error).message}`);
  }
}

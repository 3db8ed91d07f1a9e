import t from 'tap';
import { PassiveEjector, type EjectionEvent } from '../../src/health/passive-ejector.js';
import { Flag } from '../../src/pool/health-flags.js';
import { Target } from '../../src/pool/target.js';
import type { UpstreamClient } from '../../src/proxy/upstream-client.js';
import { waitFor } from '../helpers/http-client.js';

const make = (name: string) => new Target(`http://${name}`, 'blue', () => ({ closed: false }) as UpstreamClient);

function setup(consecutiveFailures: number, ejectMs: number) {
  const targets = [make('a'), make('b')];
  const events: EjectionEvent[] = [];
  const ejector = new PassiveEjector({ consecutiveFailures, ejectMs }, () => targets, (event) => events.push(event));
  return { targets, events, ejector };
}

t.test('consecutive failures eject for ejectMs, then the target returns', async (t) => {
  const { targets: [a], events, ejector } = setup(3, 60);
  t.teardown(() => ejector.stop());
  ejector.observe(a!, false);
  ejector.observe(a!, false);
  ejector.observe(a!, true); // a success resets the streak
  ejector.observe(a!, false);
  ejector.observe(a!, false);
  t.ok(a!.ready, 'not yet: the streak was broken');
  ejector.observe(a!, false);
  t.notOk(a!.ready);
  t.ok(a!.health.has(Flag.EJECTED));
  t.match(events, [{ ejected: true }]);
  await waitFor('ejection lifted', () => (a!.ready ? true : undefined), { timeoutMs: 2000 });
  t.match(events, [{ ejected: true }, { ejected: false }]);
});

t.test('the last ready target of a pool is never ejected (panic mode)', async (t) => {
  const { targets: [a, b], events, ejector } = setup(2, 10_000);
  t.teardown(() => ejector.stop());
  b!.health.set(Flag.FAILED_ACTIVE_CHECK, true);
  ejector.observe(a!, false);
  ejector.observe(a!, false);
  t.ok(a!.ready, 'kept in service');
  t.match(events, [{ ejected: false, panic: true }]);
});

t.test('release lifts an ejection early; forget drops the count', async (t) => {
  const { targets: [a, b], events, ejector } = setup(1, 10_000);
  t.teardown(() => ejector.stop());
  ejector.observe(a!, false);
  t.notOk(a!.ready);
  ejector.release(a!);
  t.ok(a!.ready);
  t.equal(events.length, 2);
  ejector.release(a!); // not ejected: nothing to say
  t.equal(events.length, 2);
  ejector.configure({ consecutiveFailures: 2, ejectMs: 10_000 });
  ejector.observe(b!, false);
  ejector.forget(b!);
  ejector.observe(b!, false);
  t.ok(b!.ready, 'the count started again after forget');
});

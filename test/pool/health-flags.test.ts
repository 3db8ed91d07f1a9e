import t from 'tap';
import { Flag, HealthFlags } from '../../src/pool/health-flags.js';

t.test('a fresh target is ready', async (t) => {
  const flags = new HealthFlags();
  t.equal(flags.ready, true);
  for (const flag of Object.values(Flag)) t.equal(flags.has(flag), false);
});

t.test('any flag makes it unready; set reports when ready changed', async (t) => {
  const flags = new HealthFlags();
  t.equal(flags.set(Flag.FAILED_ACTIVE_CHECK, true), true, 'ready → not ready');
  t.equal(flags.ready, false);
  t.equal(flags.has(Flag.FAILED_ACTIVE_CHECK), true);
  t.equal(flags.set(Flag.FAILED_ACTIVE_CHECK, true), false, 'setting again changes nothing');
  t.equal(flags.set(Flag.EJECTED, true), false, 'already not ready');
  t.equal(flags.set(Flag.FAILED_ACTIVE_CHECK, false), false, 'still ejected');
  t.equal(flags.ready, false);
  t.equal(flags.has(Flag.FAILED_ACTIVE_CHECK), false);
  t.equal(flags.has(Flag.EJECTED), true);
  t.equal(flags.set(Flag.EJECTED, false), true, 'last flag cleared → ready');
  t.equal(flags.ready, true);
  t.equal(flags.set(Flag.EJECTED, false), false, 'clearing a clear flag changes nothing');
});

t.test('flags are independent', async (t) => {
  const flags = new HealthFlags();
  flags.set(Flag.PENDING_FIRST_CHECK, true);
  flags.set(Flag.REMOVED, true);
  t.equal(flags.has(Flag.PENDING_FIRST_CHECK), true);
  t.equal(flags.has(Flag.REMOVED), true);
  t.equal(flags.has(Flag.EJECTED), false);
  flags.set(Flag.PENDING_FIRST_CHECK, false);
  t.equal(flags.has(Flag.REMOVED), true);
  t.equal(flags.ready, false);
  flags.set(Flag.REMOVED, false);
  t.equal(flags.ready, true);
});

t.test('flag bits are distinct powers of two', async (t) => {
  const bits = Object.values(Flag);
  t.equal(new Set(bits).size, bits.length);
  for (const bit of bits) t.equal(bit & (bit - 1), 0, `${bit} is a single bit`);
});

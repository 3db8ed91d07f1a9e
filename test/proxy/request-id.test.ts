// Generated request ids: UUID v4 form, unique, and different prefixes per process.
import t from 'tap';
import { RequestIds } from '../../src/proxy/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('ids look like UUID v4 and never repeat', async (t) => {
  const ids = new RequestIds();
  const seen = new Set<string>();
  for (let i = 0; i < 100_000; i++) seen.add(ids.next());
  t.equal(seen.size, 100_000, 'no repeats');
  t.ok([...seen].every((id) => UUID_V4.test(id)), 'every id in UUID v4 form');
  t.not(new RequestIds().next(), new RequestIds().next(), 'each sequence draws its own random part');
});

t.test('the counter wraps after 48 bits and stays in form', async (t) => {
  const ids = new RequestIds(0xffff_ffff_fffe);
  t.match(ids.next(), /-ffffffffffff$/);
  t.match(ids.next(), /-000000000000$/);
  t.match(ids.next(), UUID_V4);
});

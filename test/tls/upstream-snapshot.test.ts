// UpstreamTls (src/tls/upstream-tls.ts) without sockets: a pool's options are one snapshot,
// swapped whole when its files change or on reload; the same bytes keep the same snapshot; a
// file that fails to load is refused and the old snapshot stays; at start a missing file is
// left out without ever loosening verification.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/observe/logger.js';
import { DEFAULT_UPSTREAM_TLS, UpstreamTls } from '../../src/tls/upstream-tls.js';
import { testCa } from '../helpers/certs.js';
import { waitFor } from '../helpers/http-client.js';
import { LogSink } from '../helpers/log-sink.js';

function logged() {
  const sink = new LogSink();
  return { sink, logger: createLogger('debug', sink) };
}

t.test('a snapshot per content: reload with the same bytes keeps it, a changed file swaps it, a broken one is refused', async (t) => {
  const ca = testCa(t);
  const [one, two] = [ca.leaf('one', ['one.test']), ca.leaf('two', ['two.test'])];
  const cert = join(ca.dir, 'live.pem');
  const key = join(ca.dir, 'live.key');
  writeFileSync(cert, one.cert);
  writeFileSync(key, one.key);
  const { sink, logger } = logged();
  const tls = new UpstreamTls('blue', { ca: ca.caFile, cert, key, verify: true }, logger, 20);
  t.teardown(() => tls.stop());
  const first = tls.current;
  t.ok(first.secureContext, 'one SecureContext per snapshot');
  t.equal(first.rejectUnauthorized, true);
  t.ok(Object.isFrozen(first), 'never mutated');
  t.equal(first.clientSerial, '01');

  tls.configure({ ca: ca.caFile, cert, key, verify: true });
  t.equal(tls.current, first, 'a reload with the same bytes keeps the snapshot');
  tls.configure({ ca: ca.caFile, cert, key, verify: true, servername: 'api.internal' });
  t.equal(tls.current, first, 'servername is the target\'s business, not the snapshot\'s');

  writeFileSync(`${cert}.new`, two.cert);
  writeFileSync(`${key}.new`, two.key);
  renameSync(`${key}.new`, key);
  renameSync(`${cert}.new`, cert);
  const second = await waitFor('the new pair', () => (tls.current.clientSerial === '02' ? tls.current : null));
  t.not(second, first);

  writeFileSync(key, one.key); // the key of another certificate
  await waitFor('refused', () => sink.find({ msg: 'upstream TLS files refused: the previous ones stay' }).length > 0);
  t.equal(tls.current, second, 'the previous snapshot stays');
  t.match(sink.find({ msg: 'upstream TLS files refused: the previous ones stay' })[0], { kind: 'tls', pool: 'blue', why: 'file change', problems: [/key: does not match/] });

  tls.configure({ ca: ca.caFile, verify: false });
  t.equal(tls.current.cert, undefined, 'a reload dropping cert/key: no client certificate');
  t.equal(tls.current.rejectUnauthorized, false);
  tls.configure(undefined);
  t.equal(tls.current, DEFAULT_UPSTREAM_TLS, 'no tls block: Node\'s defaults');
});

t.test('at start, a file that does not load is left out, never loosening verification', async (t) => {
  const ca = testCa(t);
  const { sink, logger } = logged();
  const tls = new UpstreamTls('blue', { ca: join(ca.dir, 'gone.pem'), verify: true }, logger, 20);
  t.teardown(() => tls.stop());
  t.equal(tls.current.ca, undefined, 'no CA: Node\'s roots');
  t.equal(tls.current.rejectUnauthorized, true, 'still verifying');
  t.match(sink.find({ msg: 'upstream TLS files did not load: connections go without them' })[0], { problems: [/ca: file not found/] });
  // The file appears: the watch picks it up.
  writeFileSync(join(ca.dir, 'gone.pem'), ca.ca);
  await waitFor('the CA loaded', () => tls.current.ca !== undefined);
});

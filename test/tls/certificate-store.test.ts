// CertificateStore (src/tls/certificate-store.ts) behind a bare tls.Server: a pair that does
// not load stops the start with its key path; a config reload adds, drops and reorders pairs
// (a new default reaches the listener's own context), leaves out a new pair that fails, and
// applies a new minVersion.
import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import t from 'tap';
import { ConfigError } from '../../src/errors.js';
import { CertificateStore, type CertificateEvent } from '../../src/tls/certificate-store.js';
import { testCa } from '../helpers/certs.js';
import { LogSink } from '../helpers/log-sink.js';
import { handshake, serialOf } from './tls-client.js';

t.test('a pair that does not load stops the start, named by key path', async (t) => {
  const ca = testCa(t);
  const one = ca.leaf('one', ['one.test']);
  const two = ca.leaf('two', ['two.test']);
  const error = t.throws(() => new CertificateStore({
    certificates: [{ cert: one.certFile, key: one.keyFile }, { cert: two.certFile, key: one.keyFile }], minVersion: 'TLSv1.2', logger: pino({ level: 'silent' }),
  }));
  t.ok(error instanceof ConfigError);
  t.match((error as ConfigError).problems, [/^tls\.certificates\[1\]\.key: does not match/]);
});

t.test('configure: add, drop, reorder (new default), a failing new pair left out, minVersion', async (t) => {
  const ca = testCa(t);
  const one = ca.leaf('one', ['one.test']);
  const two = ca.leaf('two', ['two.test']);
  const three = ca.leaf('three', ['three.test']);
  const logs = new LogSink();
  const events: CertificateEvent[] = [];
  let server: Server | null = null;
  const defaults: unknown[] = [];
  const store = new CertificateStore({
    certificates: [{ cert: one.certFile, key: one.keyFile }, { cert: two.certFile, key: two.keyFile }],
    minVersion: 'TLSv1.2',
    logger: pino(logs),
    onEvent: (event) => events.push(event),
    onDefaultChange: (options) => {
      defaults.push(options);
      server?.setSecureContext(options);
    },
  });
  server = createServer({ ...store.defaultOptions(), SNICallback: store.sniCallback }, (socket) => socket.end());
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server!.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const serial = async (servername?: string) => (await handshake(port, { servername, ca: ca.ca })).serial;
  t.equal(await serial('two.test'), serialOf(two.cert));
  t.equal(await serial(), serialOf(one.cert), 'no SNI: the first pair');

  store.configure([{ cert: three.certFile, key: three.keyFile }, { cert: two.certFile, key: two.keyFile }], 'TLSv1.2');
  t.equal(defaults.length, 1, 'a new first pair is handed to the listener');
  t.equal(await serial(), serialOf(three.cert), 'no SNI: the new first pair');
  t.equal(await serial('one.test'), serialOf(three.cert), 'a dropped pair\'s name falls to the default');
  t.equal(await serial('two.test'), serialOf(two.cert), 'a kept pair still serves its name');
  t.same(store.list().map((entry) => entry.names), [['three.test'], ['two.test']]);

  store.configure([{ cert: three.certFile, key: three.keyFile }, { cert: two.certFile, key: two.keyFile }, { cert: one.certFile, key: two.keyFile }], 'TLSv1.2');
  t.same(store.list().map((entry) => entry.names), [['three.test'], ['two.test']], 'a new pair that fails is left out');
  t.match(logs.find({ msg: 'certificate pair refused; the pair in use stays' })[0], { certificate: 'tls.certificates[2]', problems: [/tls\.certificates\[2\]\.key: does not match/] });
  t.match(events, [{ kind: 'refused', reason: /tls\.certificates\[2\]\.key/ }]);

  store.configure([{ cert: three.certFile, key: three.keyFile }, { cert: two.certFile, key: two.keyFile }], 'TLSv1.3');
  t.equal(defaults.length, 2, 'a new minVersion reaches the listener');
  t.match(defaults[1], { minVersion: 'TLSv1.3' });
  await t.rejects(handshake(port, { servername: 'two.test', ca: ca.ca, extra: { maxVersion: 'TLSv1.2' } }), 'TLS 1.2 refused now');
  t.equal(await serial('two.test'), serialOf(two.cert));
  store.stop();
});

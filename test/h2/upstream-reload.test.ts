// A reload that changes a pool's upstream protocol (SPEC §14): the next requests go over the new
// one, nothing fails across the change, and the reload says what changed.
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { testCa } from '../helpers/certs.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { LogSink } from '../helpers/log-sink.js';
import { send } from '../helpers/http-client.js';

t.test('reload http1 → h2 → http1: requests follow, none fails, the summary names the change', async (t) => {
  const ca = testCa(t);
  const pair = ca.leaf('up', ['up.test']);
  // A TLS upstream speaking HTTP/1.1 and HTTP/2 (ALPN), answering with the version it was asked in.
  const upstream = createSecureServer({ cert: pair.cert, key: pair.key, allowHTTP1: true }, (req, res) => {
    req.resume();
    res.end(req.httpVersion);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const target = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const file = join(ca.dir, 'switchyard.json');
  const write = (protocol: string) => writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 },
    pools: { blue: { version: 'v1', protocol, targets: [target], tls: { ca: ca.caFile, servername: 'up.test' } } },
  }));
  write('http1');
  const switchyard = await Switchyard.start(loadConfigFile(file), { configPath: file, logDestination: new LogSink(), probe: async () => ({ ok: true, status: 200, ms: 0 }) });
  t.teardown(() => switchyard.close());
  const proxy = { url: switchyard.proxyUrl };
  t.equal((await send(proxy.url, '/v')).body.toString(), '1.1', 'http1: HTTP/1.1 upstream');

  let failed = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      const answer = await send(proxy.url, '/load').catch(() => ({ status: 0 }));
      if (answer.status !== 200) failed++;
    }
  })();
  const reloadTo = async (protocol: string) => {
    write(protocol);
    return switchyard.reload();
  };
  const toH2 = await reloadTo('h2');
  t.same(toH2.protocolChanged, ['blue: http1 → h2'], 'the summary names the change');
  t.equal((await send(proxy.url, '/v')).body.toString(), '2.0', 'h2: the next request goes over HTTP/2');
  await reloadTo('http1');
  t.equal((await send(proxy.url, '/v')).body.toString(), '1.1', 'back to HTTP/1.1');
  running = false;
  await load;
  t.equal(failed, 0, 'no request failed across the changes');
});

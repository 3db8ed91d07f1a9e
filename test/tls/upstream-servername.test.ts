// upstreamServerName (src/proxy/upstream-client.ts), the one place a target's TLS server name
// is decided: `pools.NAME.tls.servername` first, then the discovered DNS name, then the URL's
// host — none for an IP literal (RFC 6066) and none at all for http.
import t from 'tap';
import { upstreamServerName } from '../../src/proxy/upstream-client.js';

t.test('override, then DNS name, then URL host; never an IP literal; nothing for http', async (t) => {
  t.equal(upstreamServerName('https://127.0.0.1:8443', undefined, 'api.internal'), 'api.internal', 'the pool override names an IP target');
  t.equal(upstreamServerName('https://app.example:8443', 'app.svc.local', 'api.internal'), 'api.internal', 'it wins over the DNS name');
  t.equal(upstreamServerName('https://10.0.0.5:8443', 'app.svc.local'), 'app.svc.local');
  t.equal(upstreamServerName('https://app.example:8443'), 'app.example');
  t.equal(upstreamServerName('https://127.0.0.1:8443'), null);
  t.equal(upstreamServerName('https://[::1]:8443'), null);
  t.equal(upstreamServerName('http://127.0.0.1:8080', undefined, 'api.internal'), null, 'http: no TLS, no name');
});

// check-config's file stage for `pools.NAME.tls` (SPEC §13, src/tls/tls-files.ts), as a user
// runs it: a missing CA, a cert without its key, a key of another certificate, a CA file that
// is not PEM — exit 2, each problem at its key path; the files once fixed pass.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { testCa } from '../helpers/certs.js';
import { cli } from '../helpers/cli.js';

t.test('pool tls files: each problem at its key path, exit 2', async (t) => {
  const ca = testCa(t);
  const client = ca.leaf('client', ['client.switchyard.test']);
  const other = ca.leaf('other', ['other.switchyard.test']);
  const garbage = join(ca.dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  let files = 0;
  const check = async (tls: string) => {
    const file = join(ca.dir, `check-${files++}.yaml`);
    writeFileSync(file, `pools:\n  blue:\n    targets: ["https://127.0.0.1:9443"]\n    tls: ${tls}\n`);
    return cli(['check-config', file]);
  };
  const cases: Array<[string, string, RegExp]> = [
    ['missing ca', `{ ca: ${join(ca.dir, 'nowhere.pem')} }`, /pools\.blue\.tls\.ca: file not found \(.*nowhere\.pem\)/],
    ['ca not PEM', `{ ca: ${garbage} }`, /pools\.blue\.tls\.ca: not a PEM certificate/],
    ['cert without key', `{ cert: ${client.certFile} }`, /pools\.blue\.tls\.key: cert and key go together/],
    ['key without cert', `{ key: ${client.keyFile} }`, /pools\.blue\.tls\.cert: cert and key go together/],
    ['key not matching', `{ cert: ${client.certFile}, key: ${other.keyFile} }`, /pools\.blue\.tls\.key: does not match the certificate in .*client\.pem/],
    ['missing key file', `{ cert: ${client.certFile}, key: ${join(ca.dir, 'gone.key')} }`, /pools\.blue\.tls\.key: file not found/],
  ];
  for (const [what, tls, expected] of cases) {
    const run = await check(tls);
    t.equal(run.code, 2, `${what}: exit 2`);
    t.match(run.out + run.err, expected, `${what}: named at its key path`);
  }
  const good = await check(`{ ca: ${ca.caFile}, cert: ${client.certFile}, key: ${client.keyFile}, servername: api.internal }`);
  t.equal(good.code, 0, `the fixed files pass (${good.out}${good.err})`);
});

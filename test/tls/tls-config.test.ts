// check-config on the `tls` block (SPEC §13), as a user runs it: a missing file, a key that
// is not the certificate's, garbage PEM, an expired certificate, `minVersion: TLSv9` and a
// port another listener has — exit 2, each at its key path; the fixed file passes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { testCa } from '../helpers/certs.js';
import { cli } from '../helpers/cli.js';

t.test('tls block: each problem at its key path, exit 2', async (t) => {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const other = ca.leaf('other', ['other.test']);
  const expired = ca.leaf('expired', ['old.test'], { days: 0 });
  const garbage = join(ca.dir, 'garbage.pem');
  writeFileSync(garbage, 'not PEM at all\n');
  let files = 0;
  const check = async (tls: string) => {
    const file = join(ca.dir, `check-${files++}.yaml`);
    writeFileSync(file, `listen: { port: 8080 }\nadmin: { port: 9901 }\npreview: { port: 8081 }\npools:\n  blue:\n    targets: ["http://127.0.0.1:3000"]\ntls: ${tls}\n`);
    return cli(['check-config', file]);
  };
  const pair = (cert: string, key: string) => `{ cert: ${cert}, key: ${key} }`;
  const good = pair(site.certFile, site.keyFile);
  const cases: Array<[string, string, RegExp]> = [
    ['missing cert file', `{ certificates: [${pair(join(ca.dir, 'gone.pem'), site.keyFile)}] }`, /tls\.certificates\[0\]\.cert: file not found \(.*gone\.pem\)/],
    ['key not matching', `{ certificates: [${good}, ${pair(other.certFile, site.keyFile)}] }`, /tls\.certificates\[1\]\.key: does not match the certificate in .*other\.pem/],
    ['garbage certificate', `{ certificates: [${pair(garbage, site.keyFile)}] }`, /tls\.certificates\[0\]\.cert: not a PEM certificate/],
    ['garbage key', `{ certificates: [${pair(site.certFile, garbage)}] }`, /tls\.certificates\[0\]\.key: not a PEM private key/],
    ['expired certificate', `{ certificates: [${pair(expired.certFile, expired.keyFile)}] }`, /tls\.certificates\[0\]\.cert: expired on /],
    ['minVersion TLSv9', `{ minVersion: TLSv9, certificates: [${good}] }`, /tls\.minVersion/],
    ['no certificates', '{ certificates: [] }', /tls\.certificates/],
    ['port of the plain listener', `{ port: 8080, certificates: [${good}] }`, /tls\.port: 8080 is already listen\.port/],
    ['port of the admin API', `{ port: 9901, certificates: [${good}] }`, /tls\.port: 9901 is already admin\.port/],
    ['port of the preview listener', `{ port: 8081, certificates: [${good}] }`, /tls\.port: 8081 is already preview\.port/],
  ];
  for (const [what, tls, expected] of cases) {
    const run = await check(tls);
    t.equal(run.code, 2, `${what}: exit 2`);
    t.match(run.out + run.err, expected, `${what}: named at its key path`);
  }
  // Every problem at once: a schema mistake does not hide the file problems (nor the port clash).
  const file = join(ca.dir, 'all-at-once.yaml');
  writeFileSync(file, `listen: { port: 8080 }\npools:\n  blue:\n    targets: ["https://127.0.0.1:3000"]\n    tls: { key: ${site.keyFile} }\n`
    + `tls: { port: 8080, minVersion: TLSv9, certificates: [${pair(garbage, site.keyFile)}] }\n`);
  const all = await cli(['check-config', file]);
  t.equal(all.code, 2);
  for (const expected of [/pools\.blue\.tls\.cert: cert and key go together/, /tls\.port: 8080 is already listen\.port/, /tls\.minVersion: must be one of/,
    /tls\.certificates\[0\]\.cert: not a PEM certificate/]) {
    t.match(all.err, expected, `listed together: ${expected.source}`);
  }
  const fixed = await check(`{ port: 8443, minVersion: TLSv1.3, redirectHttp: true, certificates: [${good}, ${pair(other.certFile, other.keyFile)}] }`);
  t.equal(fixed.code, 0, `the fixed block passes (${fixed.out}${fixed.err})`);
});

// src/tls/pem.ts against real files made with openssl: a good pair loads with its SAN names,
// serial and dates; each way a pair can be broken is refused with the file and the reason.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadCa, loadPair } from '../../src/tls/pem.js';
import { testCa } from '../helpers/certs.js';

t.test('pairs and CA bundles', async (t) => {
  const ca = testCa(t);
  const a = ca.leaf('a', ['a.example.test', '*.wild.example.test', '127.0.0.1']);
  const b = ca.leaf('b', ['b.example.test']);

  const good = loadPair(a.certFile, a.keyFile);
  t.ok(good.ok);
  if (good.ok) {
    t.same(good.pair.names, ['a.example.test', '*.wild.example.test'], 'DNS SANs only, in order');
    t.match(good.pair.serial, /^[0-9A-F]+$/);
    t.ok(good.pair.notAfter.getTime() > Date.now());
  }

  const mismatch = loadPair(a.certFile, b.keyFile);
  t.same(mismatch.ok ? [] : mismatch.problems.map((p) => p.file), ['key']);
  t.match(mismatch.ok ? '' : mismatch.problems[0]!.message, /does not match the certificate/);

  const garbage = join(ca.dir, 'garbage.pem');
  writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
  const bad = loadPair(garbage, join(ca.dir, 'missing.key'));
  t.same(bad.ok ? [] : bad.problems.map((p) => `${p.file}: ${p.message.split(' (')[0]}`).sort(),
    ['cert: not a valid PEM certificate', 'key: file not found'].sort());

  const swapped = loadPair(a.keyFile, a.certFile);
  t.same(swapped.ok ? [] : swapped.problems.map((p) => p.message.split(' (')[0]), ['not a PEM certificate', 'not a PEM private key'],
    'cert and key the wrong way round');

  const later = loadPair(a.certFile, a.keyFile, Date.now() + 10 * 86_400_000);
  t.match(later.ok ? '' : later.problems[0]!.message, /^expired on /, 'expired at `now`');

  t.ok(loadCa(ca.caFile).ok);
  t.match(loadCa(a.keyFile), { ok: false, message: /not a PEM certificate/ });
});

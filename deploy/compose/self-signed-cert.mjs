// The compose stack's certificate: a self-signed pair for the HTTPS listeners, made at the
// first `docker compose up` into the volume that keeps it. A pair already there (an earlier
// one, or yours) is left alone. No key is ever in the repository.
// Node's crypto has no X.509 writer and the slim image no openssl command, so the DER is put
// together here (RFC 5280): an ECDSA P-256 key, SHA-256, the names as subjectAltName.
//
//   node self-signed-cert.mjs DIR [--names localhost,127.0.0.1] [--days 365] [--owner UID:GID]
//
// Writes DIR/tls.crt and DIR/tls.key (the names of a Kubernetes TLS Secret's keys), each by
// rename, so a watcher never reads half a file. --owner: chown both (when run as root).
import { chownSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

function length(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...parts) => der(0x30, ...parts);
const set = (...parts) => der(0x31, ...parts);
const octets = (bytes) => der(0x04, bytes);
/** A positive INTEGER (a leading 0 when the top bit is set). */
const integer = (bytes) => der(0x02, bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
function oid(dotted) {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [40 * first + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let high = arc >> 7; high > 0; high >>= 7) chunk.unshift((high & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}
/** UTCTime through 2049, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5). */
function time(date) {
  const digits = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${digits.slice(2)}Z`)) : der(0x18, Buffer.from(`${digits}Z`));
}
/** subjectAltName entries: dNSName [2] or iPAddress [7] (IPv4). */
function altName(name) {
  if (isIPv4(name)) return der(0x87, Buffer.from(name.split('.').map(Number)));
  if (name.includes(':')) throw new Error(`${name}: IPv6 addresses are not supported here`);
  return der(0x82, Buffer.from(name, 'ascii'));
}
const extension = (id, critical, value) => seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), octets(value));

/** A self-signed certificate and its key, PEM. */
export function selfSigned(names, { days = 365, now = new Date() } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const subject = seq(set(seq(oid('2.5.4.3'), der(0x0c, Buffer.from(names[0], 'utf8')))));
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive, no leading zero byte
  const tbs = seq(
    der(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaWithSha256,
    subject, // issuer: itself
    seq(time(new Date(now.getTime() - 3600_000)), time(new Date(now.getTime() + days * 86400_000))), // an hour back, for clock skew
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(
      extension('2.5.29.17', false, seq(...names.map(altName))),
      extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
      extension('2.5.29.15', true, der(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extendedKeyUsage: serverAuth
    )),
  );
  const certificate = seq(tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), sign('sha256', tbs, privateKey)));
  const base64 = certificate.toString('base64').match(/.{1,64}/g).join('\n');
  return { cert: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}

function writeByRename(file, text, mode) {
  writeFileSync(`${file}.tmp`, text, { mode });
  renameSync(`${file}.tmp`, file);
}

function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { names: { type: 'string', default: 'localhost,127.0.0.1' }, days: { type: 'string', default: '365' }, owner: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new Error('usage: self-signed-cert.mjs DIR [--names a,b] [--days N] [--owner UID:GID]');
  const [dir] = positionals;
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    process.stdout.write(`${certFile} and ${keyFile} exist: kept\n`);
    return;
  }
  const names = values.names.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const days = Number(values.days);
  if (names.length === 0 || !Number.isInteger(days) || days < 1) throw new Error('--names needs a name, --days a whole number of days');
  mkdirSync(dir, { recursive: true });
  const { cert, key } = selfSigned(names, { days });
  const owner = values.owner?.split(':').map(Number);
  // The key first: the certificate appearing is what makes the pair complete.
  writeByRename(keyFile, key, 0o600);
  writeByRename(certFile, cert, 0o644);
  if (owner !== undefined && process.getuid?.() === 0) for (const file of [dir, keyFile, certFile]) chownSync(file, owner[0], owner[1] ?? owner[0]);
  process.stdout.write(`${certFile}: self-signed for ${names.join(', ')}, ${days} days\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

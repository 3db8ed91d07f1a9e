// What a hostile or broken client can send the HTTPS listener before any HTTP (SPEC §13): a
// ClientHello whose server_name extension lies about its lengths, names of odd bytes and
// sizes, a truncated hello, plain HTTP, random bytes. None may take the process down or stop
// it serving; a well-formed hello with an odd name gets the default certificate.
import { randomBytes } from 'node:crypto';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCa } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { handshake, httpsGet, serialOf } from './tls-client.js';

/** A real ClientHello as node sends it (one record), caught by a plain TCP server. */
async function captureClientHello(servername: string): Promise<Buffer> {
  const server = createNetServer();
  const hello = new Promise<Buffer>((resolve) => server.once('connection', (socket) => socket.once('data', (data: Buffer) => {
    resolve(data);
    socket.destroy();
  })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername, rejectUnauthorized: false });
  client.on('error', () => undefined);
  const bytes = await hello;
  server.close();
  return bytes;
}

/** Where the server_name extension sits in a ClientHello record (RFC 8446 §4.1.2, RFC 6066 §3). */
function locateSni(hello: Buffer): { extensionsLengthAt: number; at: number; length: number } {
  let at = 5 + 4 + 2 + 32; // record header, handshake header, legacy_version, random
  at += 1 + hello[at]!; // session id
  at += 2 + hello.readUInt16BE(at); // cipher suites
  at += 1 + hello[at]!; // compression methods
  const extensionsLengthAt = at;
  const end = at + 2 + hello.readUInt16BE(at);
  for (at += 2; at < end; at += 4 + hello.readUInt16BE(at + 2)) {
    if (hello.readUInt16BE(at) === 0) return { extensionsLengthAt, at, length: hello.readUInt16BE(at + 2) };
  }
  throw new Error('no server_name extension');
}

/** The hello with its server_name extension's body replaced, every enclosing length fixed up. */
function withSniBody(hello: Buffer, body: Buffer): Buffer {
  const { extensionsLengthAt, at, length } = locateSni(hello);
  const size = Buffer.alloc(2);
  size.writeUInt16BE(body.length);
  const out = Buffer.concat([hello.subarray(0, at + 2), size, body, hello.subarray(at + 4 + length)]);
  const delta = body.length - length;
  out.writeUInt16BE(out.readUInt16BE(extensionsLengthAt) + delta, extensionsLengthAt);
  out.writeUIntBE(out.readUIntBE(6, 3) + delta, 6, 3); // handshake length
  out.writeUInt16BE(out.readUInt16BE(3) + delta, 3); // record length
  return out;
}

/** A server_name list: `names` as host_name entries, the list length as declared (default: true). */
function sniBody(names: Buffer[], options: { listLength?: number; nameType?: number; nameLength?: number } = {}): Buffer {
  const entries = names.map((name) => {
    const head = Buffer.alloc(3);
    head[0] = options.nameType ?? 0;
    head.writeUInt16BE(options.nameLength ?? name.length, 1);
    return Buffer.concat([head, name]);
  });
  const list = Buffer.concat(entries);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(options.listLength ?? list.length);
  return Buffer.concat([head, list]);
}

/**
 * Sends raw bytes; resolves with the first byte the server answered (0x16 handshake, 0x15
 * alert) or null, once it closed or 1 s passed (`firstByte`: as soon as one arrives).
 */
function sendRaw(port: number, bytes: Buffer, firstByte = false): Promise<{ first: number | null; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(bytes));
    let first: number | null = null;
    socket.on('data', (data: Buffer) => {
      first ??= data[0]!;
      if (firstByte) socket.destroy();
    });
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ first, closed: false });
    }, 1000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ first, closed: true });
    });
  });
}

const HANDSHAKE = 0x16;
const ALERT = 0x15;

t.test('malformed server names and garbage never stop the listener', async (t) => {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const other = ca.leaf('other', ['other.test']);
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, {
    tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: site.certFile, key: site.keyFile }, { cert: other.certFile, key: other.keyFile }] },
  });
  t.teardown(() => proxy.close());
  const port = (proxy.switchyard.tls!.server.address() as AddressInfo).port;
  const hello = await captureClientHello('other.test');
  t.equal((await sendRaw(port, hello, true)).first, HANDSHAKE, 'the captured hello itself is answered with a ServerHello');

  const name = (text: string) => Buffer.from(text, 'latin1');
  const malformed: Array<[string, Buffer]> = [
    ['server_name list longer than its extension', withSniBody(hello, sniBody([name('other.test')], { listLength: 0xffff }))],
    ['host_name longer than its list', withSniBody(hello, sniBody([name('other.test')], { nameLength: 0xff00 }))],
    ['empty server_name extension', withSniBody(hello, Buffer.alloc(0))],
    ['NUL inside the host_name', withSniBody(hello, sniBody([name('other.test\0.evil')]))],
    ['host_name of 300 bytes', withSniBody(hello, sniBody([name('a'.repeat(300))]))],
    ['truncated hello', hello.subarray(0, 60)],
    ['plain HTTP', name('GET / HTTP/1.1\r\nHost: site.test\r\n\r\n')],
    ['random bytes', randomBytes(4096)],
    ['a record header announcing 16 KiB, then nothing', Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00])],
  ];
  for (const [what, bytes] of malformed) {
    const answer = await sendRaw(port, bytes);
    t.not(answer.first, HANDSHAKE, `${what}: no ServerHello (${answer.first === ALERT ? 'alert' : answer.first === null ? 'nothing' : `0x${answer.first.toString(16)}`}${answer.closed ? ', closed' : ''})`);
  }

  // Well-formed hellos whose names no certificate has, or no host could have: the default pair.
  const odd: Array<[string, Buffer]> = [
    ['an empty host_name', Buffer.alloc(0)],
    ['bytes above 0x7f', name('\xff\xfe.\xe9t\xe9.test')],
    ['control characters', name('a\x01b\x7f.test')],
    ['253 characters', name(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`)],
    ['255 characters', name('x'.repeat(255))],
    ['an IP address', name('127.0.0.1')],
    ['only dots', name('...')],
    ['a wildcard', name('*.test')],
  ];
  for (const [what, bytes] of odd) {
    const answer = await sendRaw(port, withSniBody(hello, sniBody([bytes])), true);
    t.equal(answer.first, HANDSHAKE, `${what}: answered with a ServerHello`);
  }
  // Two host_name entries (RFC 6066 forbids it): refused or served, but never a crash.
  await sendRaw(port, withSniBody(hello, sniBody([name('site.test'), name('other.test')])), true);

  // Still serving: each name its own pair, requests answered.
  t.equal((await handshake(port, { servername: 'other.test', ca: ca.ca })).serial, serialOf(other.cert));
  t.equal((await handshake(port, { servername: 'site.test', ca: ca.ca })).serial, serialOf(site.cert));
  t.equal((await httpsGet(port, '/after', 'site.test', ca.ca)).status, 200, 'the listener serves after all of it');
  t.equal((await fetch(`${proxy.admin}/healthz`)).status, 200);
});

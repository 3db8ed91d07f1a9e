// Client side of the edge TLS tests: one handshake that reports which certificate the server
// chose, and HTTPS requests through node:https that verify against the test CA.
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect, type ConnectionOptions } from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';

export interface Handshake {
  /** The served leaf's serial (hex, upper-case, as openssl prints it). */
  serial: string;
  /** Its subject CN. */
  cn: string;
  /** True when the chain verified against `ca` for `servername`. */
  authorized: boolean;
  authorizationError: string | null;
  alpn: string | false | null;
  protocol: string | null;
}

/**
 * A fresh TLS connection to 127.0.0.1:`port`, closed as soon as the handshake is done.
 * `servername` undefined: no SNI at all (Node sends none when the host is an IP address).
 * The certificate is checked against the CA, but a name mismatch does not fail the handshake
 * (`authorized` says whether it would): the point is to see which pair was served.
 */
export function handshake(port: number, options: { servername?: string; ca?: string; extra?: ConnectionOptions } = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1', port, ca: options.ca, rejectUnauthorized: false,
      ...(options.servername === undefined ? {} : { servername: options.servername }),
      ...options.extra,
    }, () => {
      const cert = socket.getPeerCertificate();
      const result: Handshake = {
        serial: cert.serialNumber.toUpperCase(), cn: cert.subject.CN as string, authorized: socket.authorized,
        authorizationError: socket.authorizationError === null || socket.authorizationError === undefined ? null : String(socket.authorizationError),
        alpn: socket.alpnProtocol, protocol: socket.getProtocol(),
      };
      socket.end();
      resolve(result);
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
  });
}

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection, verifying the server against `ca` for `servername`. */
export function httpsGet(port: number, path: string, servername: string, ca: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername, ca, agent: false, headers: { host: `${servername}:${port}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The serial of a PEM certificate, in the form `handshake` reports. */
export function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toUpperCase();
}

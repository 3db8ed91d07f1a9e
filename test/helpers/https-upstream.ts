// A real HTTPS upstream (node:https) for upstream TLS tests: it records, per TLS connection,
// the SNI the proxy sent and the client certificate it presented (mTLS), and answers every
// request 200 with that certificate's CN (or `-`) so a client can see it too.
import { once } from 'node:events';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Test } from 'tap';

export interface UpstreamConnection {
  /** Order of the TLS connection on this server, from 0. */
  index: number;
  /** When its handshake ended (Date.now()). */
  at: number;
  servername: string | null;
  /** The CN of the client certificate, null when none was presented. */
  clientCn: string | null;
  clientSerial: string | null;
}

export interface HttpsUpstream {
  port: number;
  server: Server;
  connections: UpstreamConnection[];
  /** Requests seen: path and the connection they arrived on. */
  requests: Array<{ path: string; connection: number }>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1; closed at `t`'s teardown. `options` are node:https server options (cert, key, ca, requestCert...). */
export async function httpsUpstream(t: Test, options: ServerOptions & { keepAliveTimeout?: number }): Promise<HttpsUpstream> {
  const connections: UpstreamConnection[] = [];
  const requests: HttpsUpstream['requests'] = [];
  const index = new WeakMap<object, number>();
  const { keepAliveTimeout, ...tlsOptions } = options;
  const server = createServer(tlsOptions, (req, res) => {
    const connection = index.get(req.socket) ?? -1;
    requests.push({ path: req.url ?? '', connection });
    res.setHeader('content-type', 'text/plain');
    res.end(connections[connection]?.clientCn ?? '-');
  });
  if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    const presented = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
    index.set(socket, connections.length);
    connections.push({
      index: connections.length,
      at: Date.now(),
      servername: typeof socket.servername === 'string' ? socket.servername : null,
      clientCn: presented ? (peer.subject?.CN as string | undefined) ?? null : null,
      clientSerial: presented ? peer.serialNumber : null,
    });
  });
  server.on('tlsClientError', () => {}); // refused handshakes are what some tests are about
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  t.teardown(close);
  return { port: (server.address() as { port: number }).port, server, connections, requests, close };
}

// A small node:http2 client for the downstream HTTP/2 tests: one request on a session, its
// status, headers, body and trailers collected.
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';

export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders;
}

/** Opens a session to `authority` (http:// = h2c prior knowledge, https:// = ALPN h2). Resolves once connected. */
export async function h2Session(authority: string, options: SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  const session = connect(authority, options);
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** One request on `session`; `body` is sent and the stream ended. Rejects on a stream error. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answer: Omit<H2Answer, 'body'> | null = null;
    const chunks: Buffer[] = [];
    let trailers: IncomingHttpHeaders = {};
    stream.on('response', (head) => {
      answer = { status: Number(head[':status']), headers: head, trailers: {} };
    });
    stream.on('trailers', (received) => {
      trailers = received;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      if (answer === null) return reject(new Error('stream ended without a response'));
      resolve({ ...answer, body: Buffer.concat(chunks).toString('utf8'), trailers });
    });
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

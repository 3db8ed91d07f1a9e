// The demo upstream: a tiny service that says which pool, version and instance answered.
// `?delay=MS` answers slowly and `?status=N` answers with N, to show draining and errors.
import { createServer, type Server } from 'node:http';

export interface DemoAppIdentity {
  pool: string;
  version: string;
  instance: string;
}

const MAX_DELAY_MS = 60_000;

export function createDemoApp(identity: DemoAppIdentity): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end('ok\n');
    }
    const delay = Math.min(Math.max(Number(url.searchParams.get('delay')) || 0, 0), MAX_DELAY_MS);
    const status = Number(url.searchParams.get('status')) || 200;
    req.resume();
    const answer = () => {
      const body = `${JSON.stringify({ ...identity, path: url.pathname })}\n`;
      res.writeHead(status >= 200 && status <= 599 ? status : 200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    };
    if (delay > 0) setTimeout(answer, delay).unref();
    else answer();
  });
}

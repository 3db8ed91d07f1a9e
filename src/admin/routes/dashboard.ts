// The dashboard: GET / (the page) and its two assets, served without the token (they hold
// no data; every call the page makes needs it), and GET /stats, the per-pool requests and
// errors per second over the last minute that its charts draw (behind the token).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AdminContext } from '../context.js';
import { CLIENT_JS, PAGE_HTML, STYLE_CSS } from '../dashboard/index.js';
import { PoolRates } from '../../observe/pool-rates.js';

/** Paths the admin server leaves open when a token is set. */
export const DASHBOARD_PATHS = ['/', '/dashboard.js', '/dashboard.css'];

// Only our own script and stylesheet run; data comes from this origin only.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function asset(reply: FastifyReply, type: string, body: string, headers: Record<string, string> = {}): FastifyReply {
  return reply
    .type(type)
    .headers({ 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', ...headers })
    .send(body);
}

export function dashboardRoutes(app: FastifyInstance, context: AdminContext): void {
  app.get('/', async (_request, reply) => asset(reply, 'text/html; charset=utf-8', PAGE_HTML,
    { 'content-security-policy': CSP, 'x-frame-options': 'DENY' }));
  app.get('/dashboard.js', async (_request, reply) => asset(reply, 'text/javascript; charset=utf-8', CLIENT_JS));
  app.get('/dashboard.css', async (_request, reply) => asset(reply, 'text/css; charset=utf-8', STYLE_CSS));

  const idle = new PoolRates();
  app.get('/stats', async () => ({ pools: (context.rates ?? idle).snapshot(context.pools().names) }));
}

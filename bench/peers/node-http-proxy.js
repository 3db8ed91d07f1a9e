// node-http-proxy with a keep-alive agent: what many Node proxies are built on.
import { createServer, Agent } from 'node:http';
import httpProxy from 'http-proxy';

const [, , port, upstream] = process.argv;
const proxy = httpProxy.createProxyServer({ target: upstream, agent: new Agent({ keepAlive: true, maxSockets: 256 }) });
proxy.on('error', (_err, _req, res) => { if (!res.headersSent) res.writeHead(502); res.end(); });
createServer((req, res) => proxy.web(req, res)).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));

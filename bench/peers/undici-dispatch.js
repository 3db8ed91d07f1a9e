// The floor for a Node proxy: a bare undici Pool driven through dispatch, ~30 lines, no
// features. Switchyard is measured against this.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [, , port, upstream] = process.argv;
const pool = new Pool(upstream, { connections: 256, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

createServer((req, res) => {
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  pool.dispatch({ path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req }, {
    onConnect() {},
    onHeaders(status, raw, resume) {
      const out = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toString('latin1');
        if (!HOP.has(name.toLowerCase())) out.push(name, raw[i + 1].toString('latin1'));
      }
      res.writeHead(status, out);
      this.resume = resume;
      return true;
    },
    onData(chunk) {
      const more = res.write(chunk);
      if (!more) res.once('drain', this.resume);
      return more;
    },
    onComplete() { res.end(); },
    onError() { if (res.headersSent) res.destroy(); else { res.writeHead(502); res.end(); } },
  });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));

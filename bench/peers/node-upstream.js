// A minimal fast upstream, used when nginx is not installed. `/big` answers 1 MiB.
import { createServer } from 'node:http';

const ports = process.argv.slice(2).map(Number);
const small = Buffer.from('hello world\n');
const big = Buffer.alloc(1024 * 1024, 'x');
let ready = 0;
for (const port of ports) {
  createServer((req, res) => {
    req.resume();
    if (req.url === '/healthz') return void res.end('ok');
    const body = req.url === '/big' ? big : small;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  }).listen(port, '127.0.0.1', () => { if (++ready === ports.length) process.stdout.write('ready\n'); });
}

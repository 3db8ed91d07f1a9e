// Backpressure: a client that stops reading a large download must stop the upstream too,
// instead of the proxy buffering the body; when the client reads again the transfer
// completes intact. And a client that leaves mid-download ends the upstream response.
import t from 'tap';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { patternBlocks, patternSha, sha256Of, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessFor, assertServes, inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';

const TOTAL = 128 * 1024 * 1024;
/** Generous bound for what loopback socket buffers plus one stream buffer per hop may hold. */
const MAX_IN_FLIGHT = 32 * 1024 * 1024;

interface Producer {
  written: number;
  /** res.write returned false and 'drain' has not fired yet. */
  blocked: boolean;
  finished: boolean;
  closedEarly: boolean;
}

/** An upstream body producer that honours backpressure and reports where it stands. */
function produce(res: ServerResponse, producer: Producer): void {
  const blocks = patternBlocks(TOTAL);
  const pump = (): void => {
    producer.blocked = false;
    for (let next = blocks.next(); !next.done; next = blocks.next()) {
      producer.written += next.value.length;
      if (!res.write(next.value)) {
        producer.blocked = true;
        res.once('drain', pump);
        return;
      }
    }
    res.end(() => (producer.finished = true));
  };
  res.on('close', () => {
    if (!producer.finished) producer.closedEarly = true;
  });
  pump();
}

t.test('a paused client stalls the upstream; resuming completes the body intact', async (t) => {
  const producer: Producer = { written: 0, blocked: false, finished: false, closedEarly: false };
  const upstream = await upstreamFor(t, 'big', (req, res) => {
    req.resume();
    if (req.url !== '/big') return void res.end('ok');
    res.writeHead(200, { 'content-length': TOTAL, 'content-type': 'application/octet-stream' });
    produce(res, producer);
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const req = httpRequest(`${proxy.url}/big`, { agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  t.teardown(() => res.destroy());
  res.pause(); // read nothing: the body has to wait somewhere
  t.equal(res.statusCode, 200);

  // The upstream must end up stuck on 'drain' with its count no longer moving. If the proxy
  // buffered instead, the upstream would write all TOTAL bytes and finish.
  let last = -1;
  let steady = 0;
  await waitFor('the upstream to stall on drain', () => {
    if (producer.finished) throw new Error('the upstream finished writing while the client read nothing: the proxy buffered the body');
    steady = producer.blocked && producer.written === last ? steady + 1 : 0;
    last = producer.written;
    return steady >= 10; // unchanged across 10 polls of 20 ms while blocked
  }, { timeoutMs: 10_000, intervalMs: 20 });
  t.ok(producer.blocked, 'upstream res.write returned false and drain is pending');
  t.ok(producer.written < MAX_IN_FLIGHT, `upstream wrote only ${producer.written} of ${TOTAL} bytes while the client was paused`);
  t.ok(proxy.switchyard.proxy.server.listening);

  res.resume();
  const { sha, bytes } = await withDeadline(sha256Of(res), 20_000, 'the rest of the body after resuming');
  t.equal(bytes, TOTAL, 'after resuming, the whole body arrives');
  t.equal(sha, patternSha(TOTAL), 'and it is intact');
  t.ok(producer.finished, 'the upstream finished once the client read');
  const line = await accessFor(proxy, '/big');
  t.equal(line.bytes, TOTAL);
});

t.test('a client leaving mid-download closes the upstream response', async (t) => {
  const producer: Producer = { written: 0, blocked: false, finished: false, closedEarly: false };
  const upstream = await upstreamFor(t, 'big', (req, res) => {
    req.resume();
    if (req.url !== '/big') return void res.end('ok');
    res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked
    produce(res, producer);
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const req = httpRequest(`${proxy.url}/big`, { agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  req.on('error', () => {});
  res.on('error', () => {});
  await once(res, 'data');
  res.destroy(); // the client goes away with most of the body unread

  await waitFor('the upstream response to be closed', () => producer.closedEarly, { timeoutMs: 5000 });
  t.notOk(producer.finished, 'the upstream never got to finish its body');
  const line = await accessFor(proxy, '/big');
  t.equal(line.status, 499, 'logged as client closed');
  t.ok(line.bytes < TOTAL);
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

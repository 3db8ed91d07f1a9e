// Latency at a fixed request rate, in microseconds. autocannon reports whole milliseconds,
// which hides the sub-millisecond latency a proxy adds; this sends `rate` requests a second
// on keep-alive connections and times each from its send to the end of its body.
import { Pool } from 'undici';

/**
 * `rate` requests a second for `seconds` (or `amount` requests), at most `connections` in
 * flight. A request waits for a free connection rather than queueing inside undici, so a slow
 * proxy shows up as a lower achieved rate, not as latency it did not add.
 */
export async function paced(url, { rate, seconds, amount, connections = 16 }) {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const total = amount ?? Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let inFlight = 0;
  let errors = 0;
  const started = performance.now();
  await new Promise((resolve) => {
    const send = () => {
      const at = performance.now();
      const index = sent++;
      inFlight++;
      pool.request({ path: '/', method: 'GET' })
        .then(async (response) => {
          await response.body.dump();
          if (response.statusCode >= 400) errors++;
        }, () => { errors++; })
        .finally(() => {
          latencies[index] = performance.now() - at;
          inFlight--;
          if (++done === total) resolve();
        });
    };
    const tick = () => {
      // Everything due by now goes out (timers fire late; the schedule catches up).
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      while (sent < due && inFlight < connections) send();
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  const sorted = latencies.sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { rps: total / elapsed, p50: at(0.5), p99: at(0.99), errors };
}

// The gRPC load client of the bench's gRPC rows, run as its own process so its CPU is its own:
// CHANNELS grpc-js channels (each its own HTTP/2 connection: no shared subchannel pool), each
// looping unary `switchyard.demo.Greeter/SayHello` calls one at a time, for SECONDS, or until
// CALLS calls have started (smoke runs). Prints one JSON line:
// { requests (answered calls), errors (failed calls), rps, p50, p99 (ms), clientCpuUsPerCall,
// failures: [the first few messages] }.
//   node bench/grpc-load.js HOST:PORT CHANNELS SECONDS [CALLS]
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const [address, channelsText, secondsText, callsText] = process.argv.slice(2);
const channels = Number(channelsText);
const seconds = Number(secondsText);
const maxCalls = callsText === undefined ? Infinity : Number(callsText);
const CALL_DEADLINE_MS = 10_000;
const READY_MS = 10_000;

const protoDir = fileURLToPath(new URL('../proto/', import.meta.url));
const definition = protoLoader.loadSync('switchyard/demo/greeter.proto', { includeDirs: [protoDir] });
const { Greeter } = grpc.loadPackageDefinition(definition).switchyard.demo;
const clients = Array.from({ length: channels }, () =>
  new Greeter(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
await Promise.all(clients.map((client) => new Promise((resolve, reject) =>
  client.waitForReady(Date.now() + READY_MS, (error) => (error ? reject(error) : resolve())))));

const latencies = [];
const failures = [];
let started = 0;
let errors = 0;
let stopping = false;
const cpuBefore = process.cpuUsage();
const t0 = performance.now();
const stopTimer = Number.isFinite(maxCalls) ? null : setTimeout(() => { stopping = true; }, seconds * 1000);

function loop(client) {
  return new Promise((resolve) => {
    const next = () => {
      if (stopping || started >= maxCalls) return resolve();
      started++;
      const begun = performance.now();
      client.sayHello({ name: 'bench' }, { deadline: Date.now() + CALL_DEADLINE_MS }, (error) => {
        // Only answered calls count (and are timed): a failure counts as an error.
        if (error) {
          errors++;
          if (failures.length < 5) failures.push(error.message);
        } else {
          latencies.push(performance.now() - begun);
        }
        next();
      });
    };
    next();
  });
}

await Promise.all(clients.map(loop));
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpuBefore);
clearTimeout(stopTimer);
for (const client of clients) client.close();
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
const requests = latencies.length;
console.log(JSON.stringify({
  requests, errors, rps: requests / elapsed, p50: at(0.5), p99: at(0.99),
  clientCpuUsPerCall: requests === 0 ? null : (cpu.user + cpu.system) / requests, failures,
}));
process.exit(0);

// A smoke run of `npm run bench`: every row starts (the HTTPS, HTTP/2 and gRPC ones too),
// answers a few hundred requests without an error, and the JSON is written. The numbers
// themselves are for `npm run bench` only.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

t.test('npm run bench, smoke mode', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'switchyard-bench-')), 'smoke.json');
  const child = spawn(process.execPath, [join(root, 'bench/run.js')], {
    cwd: root, env: { ...process.env, BENCH_SMOKE: '1', BENCH_OUT: out, BENCH_CONNECTIONS: '8' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0, output);
  const report = JSON.parse(readFileSync(out, 'utf8')) as {
    smoke: boolean;
    results: Array<{ name: string; missing?: boolean; rps?: number; errors?: number; fixed?: { errors: number } }>;
    switchyardVsBare?: Record<string, { median: number | null; rounds: number[] }>;
  };
  t.equal(report.smoke, true);
  const names = report.results.map((row) => row.name);
  for (const expected of ['direct', 'switchyard (default', 'switchyard, access log off', 'bare undici', 'node-http-proxy', '@fastify/http-proxy', 'nginx', 'haproxy']) {
    t.ok(names.some((name) => name.startsWith(expected)), `row ${expected}`);
  }
  for (const row of report.results) {
    if (row.missing) continue;
    t.ok((row.rps ?? 0) > 0, `${row.name} answered`);
    t.equal((row.errors ?? 0) + (row.fixed?.errors ?? 0), 0, `${row.name}: no errors`);
  }
  t.match(output, /\| proxy\s+\| req\/s/, 'prints the table');
  const pair = report.switchyardVsBare;
  for (const key of ['rps', 'cpu', 'p99', 'addedP99Ms', 'floorAddedP99Ms']) {
    t.equal(pair?.[key]?.rounds.length, 1, `per-round ${key} against the bare proxy, one round in smoke mode`);
    t.equal(typeof pair?.[key]?.median, 'number', `median ${key}`);
  }
  t.match(output, /switchyard default \/ bare undici dispatch, per round, median:\n {2}req\/s [\d.]+×/, 'prints the paired ratios');
  // HTTPS rows (SPEC §13 bench): Switchyard's TLS listener and nginx, keep-alive and full handshakes.
  const tls = (report as { tls?: { results: Array<{ name: string; missing?: string; keepAlive?: { rps: number }; handshakes?: { rps: number } }> } }).tls;
  t.ok((tls?.results.length ?? 0) >= 2, 'https rows present');
  for (const row of tls?.results ?? []) {
    t.notOk(row.missing, `${row.name} ran`);
    t.ok((row.keepAlive?.rps ?? 0) > 0 && (row.handshakes?.rps ?? 0) > 0, `${row.name}: keep-alive and handshakes over https`);
  }
  t.match(output, /switchyard \/ nginx over https, per round, median:/);
  // HTTP/2 rows (SPEC §14 bench): h2load over h2c against Switchyard and nginx (`listen … http2`).
  type Row = { name: string; missing?: string; rps?: number; errors?: number; failures?: string[] };
  const { h2, grpc } = report as { h2?: { results: Row[] }; grpc?: { results: Row[] } };
  t.same(h2?.results.map((row) => row.name.split(' ')[0]), ['switchyard', 'nginx'], 'h2load rows present');
  for (const row of h2?.results ?? []) {
    t.notOk(row.missing, `${row.name} ran`);
    t.ok((row.rps ?? 0) > 0, `${row.name}: answered over h2c`);
    t.equal(row.errors, 0, `${row.name}: no errors ${JSON.stringify(row.failures ?? [])}`);
  }
  t.match(output, /switchyard \/ nginx over h2c, per round, median:\n {2}req\/s [\d.]+×/);
  // gRPC rows: unary calls direct, through Switchyard (h2c → protocol: h2c) and nginx grpc_pass.
  t.same(grpc?.results.map((row) => row.name.split(' ')[0]), ['direct', 'switchyard', 'nginx'], 'gRPC rows present');
  for (const row of grpc?.results ?? []) {
    t.notOk(row.missing, `${row.name} ran`);
    t.ok((row.rps ?? 0) > 0, `${row.name}: unary calls answered`);
    t.equal(row.errors, 0, `${row.name}: no failed calls ${JSON.stringify(row.failures ?? [])}`);
  }
  t.match(output, /gRPC, per round, median:\n {2}calls\/s, switchyard \/ direct [\d.]+×.*\n {2}calls\/s, switchyard \/ nginx [\d.]+×/);
});

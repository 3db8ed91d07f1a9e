// The workers rows of `npm run bench` (issue 16): Switchyard with `workers: 1`, `workers: 2` and
// `workers: auto` (one primary forking N worker processes that serve the proxy listener) beside
// nginx with `worker_processes 1` and `2` (a master and its workers), all in front of the plain
// rows' upstream, with the plain rows' load (keep-alive, BENCH_CONNECTIONS). The rows alternate,
// round after round; each figure is the median of the rounds and every ratio is taken per round
// (medians): Switchyard workers N / nginx worker_processes N (req/s, CPU per request), and the
// scaling, 2 / 1, of each. CPU per request counts the whole process tree (primary + workers,
// master + workers), from /proc; the primary's (master's) own part is reported beside it.
//
// On a 2-core machine the load generator and the upstream run on the same two cores, so two
// workers cannot reach 2×: nginx's own 2 / 1 in the same run is one ceiling to judge by. Each
// row also reports how busy the whole machine was during its load (all cores, /proc/stat) and
// how much of that was neither the proxy, the upstream nor the load generator (other processes
// on the box). A `workers: 1` row whose own processes (proxy, upstream, load) already use a
// share X of all the cores can gain at most 1 / X from more workers: every added request costs
// the load generator and the upstream their part too. That second ceiling leaves neighbours out.
import { availableParallelism } from 'node:os';
import {
  has, machineTicks, markdownTable, median, medians, perRound, perRoundRatio, showRatio, startNginxProxy, stop, treeCpuSeconds, until, withCpu,
  withReapedCpuSeconds,
} from './lib.js';

/**
 * Waits until a Switchyard started with `workers` serves with all of them: `/status` lists them
 * all ready (a build that runs one process, or `workers: 1`, has no list and is ready as it is).
 */
async function allWorkersReady(adminPort, expected) {
  await until(`switchyard: ${expected} workers never all ready`, async () => {
    const status = await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json();
    return status.workers === undefined || (status.workers.length === expected && status.workers.every((worker) => worker.ready));
  }, 30_000);
}

/**
 * Runs the section. `startSwitchyard(workers)` starts a default-features Switchyard with that
 * `workers` setting in front of the upstream and returns `{ port, adminPort, child }`; `load(url)`
 * is the plain rows' load; `upstreamPid` the upstream's process. Returns the figures for latest.json.
 */
export async function workersSection({ work, upstreamPort, upstreamPid, startSwitchyard, load, rounds, seconds, connections, loader, smoke }) {
  const cores = availableParallelism();
  const switchyard = (workers) => ({
    name: `switchyard, workers: ${workers}${workers === 'auto' ? ` (${cores})` : ''}`, workers,
    start: async () => {
      const peer = await startSwitchyard(workers);
      await allWorkersReady(peer.adminPort, workers === 'auto' ? cores : workers);
      return peer;
    },
  });
  const nginx = (workers) => ({
    name: `nginx, worker_processes ${workers}`, workers,
    ...(has('nginx') ? { start: () => startNginxProxy(work, upstreamPort, undefined, { workers }) } : { missing: 'not installed' }),
  });
  // Each Switchyard row next to the nginx row with as many workers: their ratio is taken within a round.
  const rows = [switchyard(1), nginx(1), switchyard(2), nginx(2), switchyard('auto')];
  const live = rows.filter((row) => !row.missing);
  // Started together: the section's start-up is the slowest row's, not the sum.
  await Promise.all(live.map(async (row) => { row.peer = await row.start(); }));
  const url = (row) => `http://127.0.0.1:${row.peer.port}/`;
  for (const row of live) {
    row.runs = [];
    if (!smoke) await load(url(row), { seconds: 2 }); // warm-up: JIT, connection pools, every worker
  }
  // The CPU of the rest of the bench's own processes: the upstream's, and the load generator's (wrk
  // is the bench's reaped child; autocannon runs inside it).
  const benchCpu = () => (treeCpuSeconds(upstreamPid)?.total ?? 0) + (withReapedCpuSeconds(process.pid) ?? 0);
  const measure = async (row) => {
    const before = { machine: machineTicks(), bench: benchCpu() };
    const run = await withCpu(row.peer.child.pid, () => load(url(row)), { tree: true });
    const after = { machine: machineTicks(), bench: benchCpu() };
    if (before.machine === null || after.machine === null || after.machine.total <= before.machine.total) return run;
    const coreSeconds = (after.machine.total - before.machine.total) / 100;
    run.machineBusy = (after.machine.busy - before.machine.busy) / 100 / coreSeconds;
    // Shares of all the cores: the proxy's, the upstream's and the load generator's together.
    run.ownShare = run.cpuUsPerRequest === null ? null : ((run.cpuUsPerRequest * run.requests) / 1e6 + after.bench - before.bench) / coreSeconds;
    run.neighbours = run.ownShare === null ? null : Math.max(0, run.machineBusy - run.ownShare);
    return run;
  };
  for (let round = 0; round < rounds; round++) {
    for (const row of round % 2 === 0 ? live : [...live].reverse()) row.runs.push(await measure(row));
  }
  for (const row of live) await stop(row.peer.child);

  const results = rows.map((row) => (row.missing ? { name: row.name, workers: row.workers, missing: row.missing } : {
    name: row.name,
    workers: row.workers,
    processes: Math.max(...row.runs.map((run) => run.processes ?? 0)),
    ...medians(row.runs, ['rps', 'p50', 'p99', 'cpuUsPerRequest', 'machineBusy', 'ownShare', 'neighbours']),
    primaryCpuShare: median(row.runs.map((run) => run.rootCpuShare)),
    errors: row.runs.reduce((sum, run) => sum + run.errors, 0),
    rounds: row.runs.map((run) => Math.round(run.rps)),
  }));
  const [sy1, ng1, sy2, ng2, syAuto] = rows;
  const ngAuto = { 1: ng1, 2: ng2 }[cores];
  const versus = (a, b) => ({ rps: perRoundRatio(a, b, 'rps'), cpu: perRoundRatio(a, b, 'cpuUsPerRequest') });
  const scaling = {
    switchyard: versus(sy2, sy1),
    switchyardAuto: versus(syAuto, sy1),
    nginx: versus(ng2, ng1),
  };
  // Switchyard's 2 / 1 over nginx's 2 / 1, round by round: 1.00 = it scales as far as nginx can here.
  scaling.switchyardOfCeiling = ng1.missing ? perRound([])
    : perRound(sy1.runs.map((_, round) => (sy2.runs[round].rps / sy1.runs[round].rps) / (ng2.runs[round].rps / ng1.runs[round].rps)));
  // What every core busy would allow over each `workers: 1` row, at that row's CPU per request (its own, the load's, the upstream's).
  const busyCeiling = (row) => (row.missing ? perRound([]) : perRound(row.runs.map((run) => 1 / run.ownShare)));
  scaling.switchyardMachineCeiling = busyCeiling(sy1);
  scaling.nginxMachineCeiling = busyCeiling(ng1);
  const switchyardVsNginx = {
    workers1: versus(sy1, ng1),
    workers2: versus(sy2, ng2),
    ...(ngAuto ? { workersAuto: versus(syAuto, ngAuto) } : {}),
  };
  print(results, { switchyardVsNginx, scaling, cores, ngAuto }, smoke ? `${loader}, ${connections} connections, smoke` : `${loader}, ${connections} keep-alive connections, ${rounds} round(s) of ${seconds} s a row`);
  return { cores, connections, results, switchyardVsNginx, scaling };
}

function print(results, { switchyardVsNginx, scaling, cores, ngAuto }, how) {
  const fmt = (value, digits = 2) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const header = ['workers', 'processes', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'primary/master CPU %', 'machine busy %', 'proxy+upstream+load %', 'others %', 'errors'];
  const percent = (share) => (share === null ? '-' : fmt(share * 100, 1));
  const table = results.map((result) => (result.missing ? [result.name, result.missing, ...header.slice(2).map(() => '')] : [
    result.name, String(result.processes), String(Math.round(result.rps)), fmt(result.p50), fmt(result.p99),
    fmt(result.cpuUsPerRequest, 1), percent(result.primaryCpuShare), percent(result.machineBusy), percent(result.ownShare), percent(result.neighbours),
    String(result.errors),
  ]));
  console.log(`\nWorkers (${how}; CPU of the whole process tree: primary + workers, nginx master + workers; ${cores} core(s))`);
  console.log(markdownTable(header, table));
  const oneProcess = results.filter((result) => result.name.startsWith('switchyard') && result.processes === 1 && result.workers !== 1);
  if (oneProcess.length > 0) console.log(`(this build runs ${oneProcess.map((result) => `workers: ${result.workers}`).join(' and ')} in one process: no workers yet)`);
  const lines = [
    showRatio('workers: 1 / worker_processes 1, req/s', switchyardVsNginx.workers1.rps),
    showRatio('workers: 1 / worker_processes 1, CPU per request', switchyardVsNginx.workers1.cpu),
    showRatio('workers: 2 / worker_processes 2, req/s', switchyardVsNginx.workers2.rps),
    showRatio('workers: 2 / worker_processes 2, CPU per request', switchyardVsNginx.workers2.cpu),
    ...(switchyardVsNginx.workersAuto ? [
      showRatio(`workers: auto (${cores}) / worker_processes ${ngAuto.workers}, req/s`, switchyardVsNginx.workersAuto.rps),
      showRatio(`workers: auto (${cores}) / worker_processes ${ngAuto.workers}, CPU per request`, switchyardVsNginx.workersAuto.cpu),
    ] : []),
  ];
  console.log(`\nswitchyard / nginx by workers, per round, median:\n  ${lines.join('\n  ')}`);
  console.log(`\nscaling, per round, median:\n  ${[
    showRatio('switchyard workers 2 / 1, req/s', scaling.switchyard.rps),
    showRatio('switchyard workers 2 / 1, CPU per request', scaling.switchyard.cpu),
    showRatio(`switchyard workers auto (${cores}) / 1, req/s`, scaling.switchyardAuto.rps),
    showRatio('nginx worker_processes 2 / 1, req/s (the ceiling on this machine)', scaling.nginx.rps),
    showRatio('nginx worker_processes 2 / 1, CPU per request', scaling.nginx.cpu),
    showRatio("switchyard's 2 / 1 over nginx's 2 / 1, req/s", scaling.switchyardOfCeiling),
    showRatio('every core for proxy, upstream and load at workers: 1 would allow', scaling.switchyardMachineCeiling),
    showRatio('every core for proxy, upstream and load at worker_processes 1 would allow', scaling.nginxMachineCeiling),
  ].join('\n  ')}`);
}

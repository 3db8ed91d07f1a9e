// Commands that run things here: start (proxy + admin), demo, check-config, demo-app.
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load.js';
import type { PoolConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { Switchyard } from '../../main.js';
import { startDemo } from '../../demo/demo-stack.js';
import { createDemoApp } from '../../demo/demo-app.js';
import { adminArg, fleetBanner, fleetEndpoints, secondPort, startFleetDemo } from '../../demo/fleet-demo.js';
import { grpcDemoBanner, startGrpcDemo } from '../../demo/grpc-demo-stack.js';
import { PROTO_DIR } from '../../demo/grpc-demo-app.js';
import { portInUseHint } from '../hints.js';
import { EXIT, type CliIo } from '../io.js';
import { ReportedError, UsageError, type CommandResult } from '../result.js';
import { serveUntilSignal } from '../signals.js';
import { workerCount } from '../../cluster/worker-count.js';

export const DEFAULT_CONFIG = 'config/switchyard.yaml';

export function registerServerCommands(program: Command, io: CliIo, run: (result: CommandResult) => void): void {
  program.command('start')
    .description('run the proxy and its admin API')
    .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
    .action((flags: { config: string }) => run(async () => {
      const config = loadConfigFile(flags.config, io.env);
      const switchyard = await withPortHint(io, Switchyard.start(config, { configPath: flags.config }), [
        { port: config.listen.port, setting: `listen.port in ${flags.config}` },
        { port: config.admin.port, setting: `admin.port in ${flags.config}` },
        ...(config.preview === undefined ? [] : [{ port: config.preview.port, setting: `preview.port in ${flags.config}` }]),
        ...(config.tls === undefined ? [] : [{ port: config.tls.port, setting: `tls.port in ${flags.config}` }]),
      ]);
      return serveUntilSignal({ stop: () => switchyard.close(), reload: () => switchyard.reload() }, io);
    }));

  program.command('demo')
    .description('the demo stack: blue ×2 (1.0.0), green ×1 (2.0.0) behind a proxy on :8080, admin on :9901')
    .option('--fleet', 'two proxies sharing a private Redis (redis-server from PATH, or env REDIS_SERVER): :8080/:8081, admins :9901/:9902')
    .option('--grpc', 'gRPC demo services (switchyard.demo.Greeter, grpc.health.v1.Health) behind h2c pools; the proxy takes h2c on :8080')
    .option('--port <port>', 'proxy port (with --fleet, the first instance\'s; the second gets +1)', integer, 8080)
    .option('--admin-port <port>', 'admin API port (with --fleet, the first instance\'s; the second gets +1)', integer, 9901)
    .option('--json', 'print the endpoints as one JSON line instead of the banner')
    .action((flags: { fleet?: boolean; grpc?: boolean; port: number; adminPort: number; json?: boolean }) => run(async () => {
      if (flags.fleet && flags.grpc) throw new UsageError('--grpc and --fleet do not combine');
      if (flags.grpc) {
        const demo = await withPortHint(io, startGrpcDemo({ port: flags.port, adminPort: flags.adminPort }),
          [{ port: flags.port, setting: '--port' }, { port: flags.adminPort, setting: '--admin-port' }]);
        io.out(flags.json
          ? JSON.stringify({ instances: [{ proxy: demo.switchyard.proxyUrl, admin: demo.switchyard.adminUrl }], protoDir: PROTO_DIR })
          : grpcDemoBanner(demo.switchyard.proxyUrl, demo.switchyard.adminUrl));
        return serveUntilSignal({ stop: () => demo.close() }, io);
      }
      if (flags.fleet) {
        for (const [name, value] of [['--port', flags.port], ['--admin-port', flags.adminPort]] as const) {
          if (value === 65535) throw new UsageError(`${name} ${value} leaves no port for the second instance`);
        }
        const fleet = await withPortHint(io, startFleetDemo({ port: flags.port, adminPort: flags.adminPort, redisServer: io.env.REDIS_SERVER || undefined }), [
          { port: flags.port, setting: '--port' },
          { port: secondPort(flags.port), setting: '--port (the second instance listens on --port + 1)' },
          { port: flags.adminPort, setting: '--admin-port' },
          { port: secondPort(flags.adminPort), setting: '--admin-port (the second instance listens on --admin-port + 1)' },
        ]);
        io.out(flags.json ? JSON.stringify(fleetEndpoints(fleet)) : fleetBanner(fleet));
        return serveUntilSignal({ stop: () => fleet.close() }, io);
      }
      const demo = await withPortHint(io, startDemo({ port: flags.port, adminPort: flags.adminPort }),
        [{ port: flags.port, setting: '--port' }, { port: flags.adminPort, setting: '--admin-port' }]);
      io.out(flags.json
        ? JSON.stringify({ instances: [{ proxy: demo.switchyard.proxyUrl, admin: demo.switchyard.adminUrl }] })
        : demoBanner(demo.switchyard.proxyUrl, demo.switchyard.adminUrl));
      return serveUntilSignal({ stop: () => demo.close() }, io);
    }));

  program.command('check-config')
    .description('validate a config file: exit 0, or 2 with every problem listed')
    .argument('<file>')
    .option('--json', 'print { file, ok, pools } or { file, ok: false, problems } as JSON')
    .action((file: string, flags: { json?: boolean }) => run(async () => {
      if (!flags.json) {
        const config = loadConfigFile(file, io.env);
        io.out(`${file}: ok (${config.pools.map(poolSummary).join(', ')})`);
        const { warning } = workerCount(config.workers);
        if (warning !== undefined) io.err(`warning: ${warning}`);
        return EXIT.OK;
      }
      try {
        const config = loadConfigFile(file, io.env);
        const pools = config.pools.map((pool) => ({ name: pool.name, version: pool.version, targets: pool.targets,
          ...(pool.discover === undefined ? {} : { discover: pool.discover }) }));
        const { warning } = workerCount(config.workers);
        io.out(JSON.stringify({ file, ok: true, pools, ...(warning === undefined ? {} : { warnings: [warning] }) }, null, 2));
        return EXIT.OK;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        io.out(JSON.stringify({ file, ok: false, problems: err.problems }, null, 2));
        return EXIT.USAGE;
      }
    }));

  program.command('demo-app')
    .description('one demo upstream (what `demo` runs three of); for docker-compose and manual tests')
    .option('--pool <name>', 'pool name it reports', 'blue')
    .option('--app-version <version>', 'version it reports', '1.0.0')
    .option('--instance <name>', 'instance name it reports')
    .option('--host <host>', 'listen host', '127.0.0.1')
    .option('--port <port>', 'listen port', integer, 3001)
    .action((flags: { pool: string; appVersion: string; instance?: string; host: string; port: number }) => run(async () => {
      const app = createDemoApp({ pool: flags.pool, version: flags.appVersion, instance: flags.instance ?? `${flags.pool}-${flags.port}` });
      await new Promise<void>((resolve, reject) => {
        app.once('error', reject);
        app.listen(flags.port, flags.host, resolve);
      });
      io.out(`demo app ${flags.pool} ${flags.appVersion} on http://${flags.host}:${flags.port}`);
      return serveUntilSignal({
        stop: () => new Promise<void>((resolve) => {
          app.close(() => resolve());
          app.closeIdleConnections();
        }),
      }, io);
    }));
}

/**
 * Awaits a start; a port already in use is reported with the setting that changes it
 * (exit 1, as SPEC §2 says) instead of a bare EADDRINUSE.
 */
async function withPortHint<T>(io: CliIo, starting: Promise<T>, settings: ReadonlyArray<{ port: number; setting: string }>): Promise<T> {
  try {
    return await starting;
  } catch (err) {
    const hint = portInUseHint(err, settings);
    if (hint !== null) io.err(`error: ${(err as Error).message}\n${hint}`);
    throw hint === null ? err : new ReportedError();
  }
}

function integer(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new UsageError(`not a port number: ${text}`);
  return value;
}

function demoBanner(proxy: string, admin: string): string {
  const flag = adminArg(admin);
  return [
    `Switchyard demo: proxy ${proxy}, admin ${admin}`,
    '  blue ×2 (1.0.0) is live, green ×1 (2.0.0) is standby. Try:',
    `    curl ${proxy}/`,
    `    npx switchyard flip green${flag}`,
    `    curl ${proxy}/`,
    `    npx switchyard rollback${flag}`,
    `    npx switchyard status --watch${flag}`,
    '  Ctrl-C stops it. (`switchyard demo --fleet`: two proxies sharing a Redis.)',
  ].join('\n');
}

/** `blue ×2`, `green dns app-green.svc:8000 (A)`, or both: what check-config says a pool has. */
function poolSummary(pool: PoolConfig): string {
  const parts = [...(pool.targets.length > 0 || pool.discover === undefined ? [`×${pool.targets.length}`] : []),
    ...(pool.discover === undefined ? [] : [`dns ${pool.discover.dns}${pool.discover.port === undefined ? '' : `:${pool.discover.port}`} (${pool.discover.type})`])];
  return `${pool.name} ${parts.join(' + ')}`;
}

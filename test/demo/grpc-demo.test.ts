// `switchyard demo --grpc`: gRPC demo apps (Greeter + grpc.health.v1.Health) behind h2c pools;
// a grpc-js client calls through the proxy's plain port, a flip moves the very next call.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  demoProtos, GREETER_PROTO, GREETER_SERVICE, greeterClient, HEALTH_PROTO, PROTO_DIR, startGrpcDemoApp, type HelloReply,
} from '../../src/demo/grpc-demo-app.js';
import { grpcDemoBanner, grpcDemoCalls, startGrpcDemo } from '../../src/demo/grpc-demo-stack.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { LogSink } from '../helpers/log-sink.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CALL_MS = 5000;

function sayHello(address: string, name = 'tap'): Promise<HelloReply> {
  const client = greeterClient(address);
  return new Promise<HelloReply>((resolve, reject) => {
    client.sayHello({ name }, new grpc.Metadata(), { deadline: Date.now() + CALL_MS }, (error: grpc.ServiceError | null, reply?: HelloReply) => {
      client.close();
      if (error) reject(error);
      else resolve(reply!);
    });
  });
}

function healthClient(address: string) {
  const Health = grpc.makeGenericClientConstructor(demoProtos().health, 'Health');
  return new Health(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
}

function check(address: string, service: string): Promise<string> {
  const client = healthClient(address);
  return new Promise<string>((resolve, reject) => {
    client.Check!({ service }, (error: grpc.ServiceError | null, reply?: { status: string }) => {
      client.close();
      if (error) reject(error);
      else resolve(reply!.status);
    });
  });
}

t.test('the protos ship at the package root, found from the module', async (t) => {
  t.equal(PROTO_DIR, join(root, 'proto/'));
  t.ok(existsSync(join(PROTO_DIR, GREETER_PROTO)), GREETER_PROTO);
  t.ok(existsSync(join(PROTO_DIR, HEALTH_PROTO)), HEALTH_PROTO);
});

t.test('a gRPC demo app names itself and answers the health protocol', async (t) => {
  const app = await startGrpcDemoApp({ pool: 'green', version: '2.0.0', instance: 'g1' }, '127.0.0.1');
  t.teardown(() => app.close());
  t.match(await sayHello(app.address, 'you'), { message: 'hello you from green 2.0.0', pool: 'green', version: '2.0.0', instance: 'g1' });
  t.equal(await check(app.address, ''), 'SERVING', 'the server as a whole');
  t.equal(await check(app.address, GREETER_SERVICE), 'SERVING', 'the Greeter');
  await t.rejects(check(app.address, 'no.Such'), { code: grpc.status.NOT_FOUND }, 'an unknown service is NOT_FOUND');

  // Watch: the current status, then the change.
  const client = healthClient(app.address);
  t.teardown(() => client.close());
  const call = client.Watch!({ service: GREETER_SERVICE }) as grpc.ClientReadableStream<{ status: string }>;
  call.on('error', () => {}); // cancelled at the end
  const seen: string[] = [];
  const twoSeen = new Promise<void>((resolve) => call.on('data', (message: { status: string }) => {
    seen.push(message.status);
    if (seen.length === 1) app.setServing('NOT_SERVING');
    if (seen.length === 2) resolve();
  }));
  await twoSeen;
  call.cancel();
  t.same(seen, ['SERVING', 'NOT_SERVING']);
  t.equal(await check(app.address, ''), 'NOT_SERVING');
});

t.test('through the proxy: blue answers, a flip sends the next call to green', async (t) => {
  const demo = await startGrpcDemo({ port: 0, adminPort: 0, logDestination: new LogSink() });
  t.teardown(() => demo.close());
  const address = new URL(demo.switchyard.proxyUrl).host;
  const first = await sayHello(address);
  const second = await sayHello(address);
  t.match(first, { pool: 'blue', version: '1.0.0', message: 'hello tap from blue 1.0.0' });
  t.not(first.instance, second.instance, 'both blue instances serve');

  const flip = await fetch(`${demo.switchyard.adminUrl}/flip`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool: 'green' }),
  });
  const flipBody = await flip.text();
  t.equal(flip.status, 200, `the flip answers 200${flip.status === 200 ? '' : `: ${flipBody}`}`);
  t.match(await sayHello(address), { pool: 'green', version: '2.0.0', instance: 'green-1' }, 'the next call after the 200 names green');
  t.equal((await cli(['rollback'], { SWITCHYARD_ADMIN_URL: demo.switchyard.adminUrl })).code, 0);
  t.match(await sayHello(address), { pool: 'blue' });
  await demo.close();
  await demo.close(); // idempotent
});

t.test('`switchyard demo --grpc` prints calls that work as printed; a flip moves them', async (t) => {
  const proc = spawnCli(['demo', '--grpc', '--port', '0', '--admin-port', '0']);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  const output = await proc.waitFor(/Ctrl-C stops it/, 20_000);
  const [, proxy, admin] = /proxy (http:\/\/\S+) .*admin (http:\/\/\S+)$/m.exec(output)!;
  const calls = grpcDemoCalls(proxy!);
  t.equal(output.trim().split('\n').slice(-8).join('\n'), grpcDemoBanner(proxy!, admin!), 'the banner');
  t.match(calls.grpcurl, `grpcurl -plaintext -import-path ${PROTO_DIR} -proto ${GREETER_PROTO} -d '{"name":"you"}' ${new URL(proxy!).host} ${GREETER_SERVICE}/SayHello`);
  // The node one-liner, run by a shell in the project folder as the banner says.
  const run = () => new Promise<string>((resolve, reject) => execFile('sh', ['-c', calls.node], { cwd: root, timeout: 15_000 },
    (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))));
  t.match(JSON.parse(await run()), { pool: 'blue', version: '1.0.0', message: 'hello you from blue 1.0.0' });
  t.equal((await cli(['flip', 'green', '--admin', admin!], {})).code, 0);
  t.match(JSON.parse(await run()), { pool: 'green', instance: 'green-1' });
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0, 'clean shutdown exits 0');
});

t.test('--grpc --json prints the endpoints and the proto folder; --grpc with --fleet is bad usage', async (t) => {
  const proc = spawnCli(['demo', '--grpc', '--json', '--port', '0', '--admin-port', '0']);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  const output = await proc.waitFor(/^\{"instances".*\}$/m, 20_000);
  const endpoints = JSON.parse(/^\{"instances".*\}$/m.exec(output)![0]) as { instances: Array<{ proxy: string; admin: string }>; protoDir: string };
  t.equal(endpoints.protoDir, PROTO_DIR);
  t.match(await sayHello(new URL(endpoints.instances[0]!.proxy).host), { pool: 'blue' });
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0);

  const both = await cli(['demo', '--grpc', '--fleet', '--port', '0', '--admin-port', '0'], {});
  t.equal(both.code, 2);
  t.match(both.err, /--grpc and --fleet do not combine/);
});

// deploy/kubernetes/, checked without a cluster: every manifest parses; the ConfigMap's config
// passes check-config with the environment its pod gets; names, labels, ports, probe paths,
// the Redis URL, the config mount, the TLS Secret's mount and the shutdown timings agree
// across the files. Then the cluster in miniature: dnsmasq answers the headless Services'
// names, the demo apps run with their manifests' arguments, Switchyard runs the ConfigMap's
// config with a test pair where the Secret would be, a flip goes through over HTTP and HTTPS,
// and a Secret update laid out as kubelet does it (a `..data` symlink swap) is served.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parse, parseAllDocuments } from 'yaml';
import { registerServerCommands } from '../../src/cli/commands/server-commands.js';
import { loadConfigFile, resolveConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createDemoApp } from '../../src/demo/demo-app.js';
import { Switchyard } from '../../src/main.js';
import { testCa, type LeafPair } from '../helpers/certs.js';
import { cli } from '../helpers/cli.js';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { send, waitFor } from '../helpers/http-client.js';
import { LogSink } from '../helpers/log-sink.js';
import { closedPort } from '../helpers/upstream.js';
import { handshake, httpsGet, serialOf } from '../tls/tls-client.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(ROOT, 'deploy/kubernetes');
const NAMESPACE = 'switchyard';
/** What the pod's Secret reference stands for in these checks. */
const TOKEN = 'k8s-test-token-5f1c9e0a7b';

type Labels = Record<string, string>;
type PortRef = number | string;
interface Probe { httpGet?: { path: string; port: PortRef }; exec?: { command: string[] } }
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: Probe };
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
  securityContext?: { runAsUser?: number };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  volumes?: Array<{
    name: string;
    configMap?: { name: string; items?: Array<{ key: string; path: string }> };
    secret?: { secretName: string; defaultMode?: number; items?: Array<{ key: string; path: string }> };
  }>;
  securityContext?: { fsGroup?: number };
  affinity?: { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: Array<{ podAffinityTerm: { labelSelector: { matchLabels: Labels } } }> } };
}
interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels };
  file: string;
  spec?: {
    // Deployment
    replicas?: number;
    selector?: { matchLabels?: Labels } & Labels;
    template?: { metadata: { labels: Labels }; spec: PodSpec };
    // Service
    clusterIP?: string;
    publishNotReadyAddresses?: boolean;
    ports?: Array<{ name?: string; port: number; targetPort?: PortRef }>;
    // PodDisruptionBudget
    minAvailable?: number;
  };
  data?: Record<string, string>;
}

const files = readdirSync(DIR).filter((file) => /\.ya?ml$/.test(file)).sort();
const resources: Resource[] = files.flatMap((file) => parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
  return { ...(doc.toJS() as Omit<Resource, 'file'>), file };
}).filter((resource) => resource.kind !== undefined));

const all = (kind: string) => resources.filter((resource) => resource.kind === kind);
function one(kind: string, name: string): Resource {
  const found = all(kind).filter((resource) => resource.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}
const podSpec = (deployment: Resource) => deployment.spec!.template!.spec;
const containerOf = (deployment: Resource) => podSpec(deployment).containers[0]!;
const selects = (selector: Labels, labels: Labels) => Object.entries(selector).every(([key, value]) => labels[key] === value);
/** The Deployments whose pods a Service (or PDB, affinity term) selects. */
const selected = (selector: Labels) => all('Deployment').filter((deployment) => selects(selector, deployment.spec!.template!.metadata.labels));
/** A port reference (a number, or a container port's name) → the container port number. */
function containerPort(container: Container, ref: PortRef): number | undefined {
  const port = (container.ports ?? []).find((item) => (typeof ref === 'number' ? item.containerPort === ref : item.name === ref));
  return port?.containerPort;
}
/** Seconds of a `preStop: exec: sleep N` pause. */
function pauseSeconds(container: Container): number {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  if (command.length !== 2 || command[0] !== 'sleep' || !/^\d+$/.test(command[1]!)) throw new Error(`${container.name}: preStop is not "sleep N": ${JSON.stringify(command)}`);
  return Number(command[1]);
}
/** The container's environment as kubelet would give it (a Secret reference → TOKEN, the pod name → `pod`). */
function environment(container: Container, pod: string): Record<string, string> {
  return Object.fromEntries((container.env ?? []).map((variable) => {
    if (variable.value !== undefined) return [variable.name, variable.value];
    if (variable.valueFrom?.secretKeyRef !== undefined) return [variable.name, TOKEN];
    if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.name') return [variable.name, pod];
    throw new Error(`${container.name}: no test value for ${variable.name}`);
  }));
}
/** kubelet's `$(VAR)` expansion in command and args (`$$` is a literal `$`; unknown names stay as written). */
const kubeletExpand = (arg: string, env: Record<string, string>) =>
  arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) => (name === undefined ? '$' : env[name] ?? match));
/** `node dist/cli/main.js ARGS…` → ARGS. */
function cliArgs(container: Container): string[] {
  const command = [...(container.command ?? []), ...(container.args ?? [])];
  if (command[0] !== 'node' || command[1] !== 'dist/cli/main.js') throw new Error(`${container.name}: not a switchyard command: ${command.join(' ')}`);
  return command.slice(2);
}
/**
 * A server command's options as the real CLI definition parses them (unknown options and bad
 * values throw), without running it: in-process apps start in milliseconds, child processes in seconds.
 */
async function parsedOptions(argv: string[]): Promise<Record<string, string | number | undefined>> {
  const program = new Command('switchyard').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  registerServerCommands(program, { out: () => undefined, err: () => undefined, env: {} }, () => undefined);
  await program.parseAsync(argv, { from: 'user' });
  return program.commands.find((command) => command.name() === argv[0])!.opts();
}

const switchyard = one('Deployment', 'switchyard');
const proxy = containerOf(switchyard);
const configVolume = podSpec(switchyard).volumes!.find((volume) => volume.configMap !== undefined)!;
const configMap = one('ConfigMap', configVolume.configMap!.name);
const configKey = configVolume.configMap!.items![0]!.key;
const configText = configMap.data![configKey]!;
const env = environment(proxy, 'switchyard-6d4cf56db6-x7k2p');
const dir = mkdtempSync(join(tmpdir(), 'switchyard-k8s-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// The TLS Secret: a test pair stands where kubelet would put the Secret's files, laid out as
// kubelet lays them out, and the config's paths under the mount are moved there.
const tlsVolume = podSpec(switchyard).volumes!.find((volume) => volume.secret !== undefined)!;
const tlsMount = proxy.volumeMounts!.find((mount) => mount.name === tlsVolume.name)!;
const tlsDir = join(dir, 'tls');
const ca = testCa(t);
/** The names a client inside the cluster uses for the Service switchyard. */
const SERVICE_NAME = `switchyard.${NAMESPACE}.svc.cluster.local`;
let secretVersion = 0;
/**
 * Writes a Secret version as kubelet's atomic writer does: the files in a new timestamped
 * folder, `..data` switched to it by renaming a fresh symlink over it, each key a symlink
 * through `..data` (made once), the old folder removed.
 */
function kubeletWrites(pair: LeafPair): void {
  mkdirSync(tlsDir, { recursive: true });
  const version = `..2026_12_01_00_00_0${++secretVersion}.${process.pid}`;
  mkdirSync(join(tlsDir, version));
  writeFileSync(join(tlsDir, version, 'tls.crt'), pair.cert);
  writeFileSync(join(tlsDir, version, 'tls.key'), pair.key);
  const data = join(tlsDir, '..data');
  const old = existsSync(data) ? readlinkSync(data) : null;
  symlinkSync(version, join(tlsDir, '..data_tmp'));
  renameSync(join(tlsDir, '..data_tmp'), data);
  for (const key of ['tls.crt', 'tls.key']) if (old === null) symlinkSync(join('..data', key), join(tlsDir, key));
  if (old !== null) rmSync(join(tlsDir, old), { recursive: true });
}
kubeletWrites(ca.leaf('secret-1', [SERVICE_NAME, 'localhost']));
/** The ConfigMap's config with the Secret's mount path pointing at the stand-in. */
const localText = configText.replaceAll(`${tlsMount.mountPath}/`, `${tlsDir}/`);
const configFile = join(dir, configKey);
writeFileSync(configFile, localText);
const config: Config = loadConfigFile(configFile, env);
/** The app Deployment behind a pool: the one its discovered Service selects. */
const appOf = (pool: string) => selected(serviceForDns(pool).spec!.selector!)[0]!;
function serviceForDns(pool: string): Resource {
  const dns = config.pools.find((item) => item.name === pool)!.discover!.dns;
  return all('Service').find((service) => `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local` === dns)!;
}

t.test('every manifest parses; one namespace; the resources the example needs, no Secret', async (t) => {
  t.ok(files.length >= 5, `files: ${files.join(', ')}`);
  t.notOk(files.includes('kustomization.yaml'), 'plain manifests: `kubectl apply -f deploy/kubernetes/` would choke on a kustomization file');
  for (const resource of resources) {
    t.ok(resource.apiVersion && resource.metadata?.name, `${resource.file}: ${resource.kind} ${resource.metadata?.name} has apiVersion and name`);
    if (resource.kind !== 'Namespace') t.equal(resource.metadata.namespace, NAMESPACE, `${resource.kind} ${resource.metadata.name} is in ${NAMESPACE}`);
    t.equal(resource.metadata.labels?.['app.kubernetes.io/part-of'], 'switchyard', `${resource.kind} ${resource.metadata.name}: labelled part-of switchyard`);
  }
  const names = resources.map((resource) => `${resource.kind}/${resource.metadata.name}`);
  t.equal(new Set(names).size, names.length, 'no kind/name twice');
  t.same(names.sort(), [
    'ConfigMap/switchyard-config',
    'Deployment/app-blue', 'Deployment/app-green', 'Deployment/redis', 'Deployment/switchyard',
    'Namespace/switchyard', 'PodDisruptionBudget/switchyard',
    'Service/app-blue', 'Service/app-green', 'Service/redis', 'Service/switchyard', 'Service/switchyard-admin',
  ]);
  t.equal(one('Namespace', NAMESPACE).file, files[0], 'the Namespace sorts first, so `apply -f` creates it before what is in it');
  t.equal(all('Secret').length, 0, 'the admin token is never committed');
});

t.test('the ConfigMap config passes check-config with the environment its pod gets', async (t) => {
  const check = await cli(['check-config', configFile], env);
  t.equal(check.code, 0, `check-config passes (${check.err.trim()})`);
  const withoutToken = await cli(['check-config', configFile], {});
  t.equal(withoutToken.code, 2, 'without the Secret, no start');
  t.match(withoutToken.err, /admin\.token: environment variable SWITCHYARD_ADMIN_TOKEN is not set/);

  // Every ${VAR} without a default is set by the container; none is a name a Service link could inject.
  const referenced = [...configText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)];
  t.ok(referenced.length > 0);
  for (const [, name, fallback] of referenced) {
    if (fallback === undefined) t.ok(name! in env, `${name} is set in the switchyard container`);
  }
  const linked = all('Service').flatMap((service) => {
    const prefix = service.metadata.name.toUpperCase().replace(/-/g, '_');
    return [`${prefix}_SERVICE_HOST`, `${prefix}_SERVICE_PORT`, `${prefix}_PORT`,
      ...service.spec!.ports!.flatMap((port) => [`${prefix}_SERVICE_PORT_${(port.name ?? '').toUpperCase().replace(/-/g, '_')}`,
        `${prefix}_PORT_${port.port}_TCP`, `${prefix}_PORT_${port.port}_TCP_ADDR`, `${prefix}_PORT_${port.port}_TCP_PORT`, `${prefix}_PORT_${port.port}_TCP_PROTO`])];
  });
  t.ok(linked.includes('SWITCHYARD_PORT'), 'the Service named switchyard would inject SWITCHYARD_PORT=tcp://…');
  for (const [, name] of referenced) t.notOk(linked.includes(name!), `${name} cannot come from a Service link`);
  t.equal(podSpec(switchyard).enableServiceLinks, false, 'and Service links are off for Switchyard anyway');

  t.equal(config.listen.host, '0.0.0.0', 'the proxy listens on the pod IP');
  t.equal(config.admin.host, '0.0.0.0', 'so does the admin API, for the probes and the admin Service…');
  t.equal(config.admin.token, TOKEN, '…behind the token from the Secret');
});

t.test('each pool discovers a headless Service by its cluster DNS name, on its pods\' container port', async (t) => {
  t.same(config.pools.map((pool) => pool.name), ['blue', 'green']);
  for (const pool of config.pools) {
    const discover = pool.discover!;
    t.ok(discover, `${pool.name} discovers`);
    t.same(pool.targets, [], `${pool.name}: DNS is its only source`);
    t.equal(discover.type, 'A');
    const service = serviceForDns(pool.name);
    t.ok(service, `${discover.dns} is <service>.${NAMESPACE}.svc.cluster.local of a Service here`);
    t.equal(service.metadata.name, `app-${pool.name}`);
    t.equal(service.spec!.clusterIP, 'None', `${service.metadata.name} is headless: DNS answers with the pod addresses`);
    t.not(service.spec!.publishNotReadyAddresses, true, 'only ready pods are in the answer');
    const apps = selected(service.spec!.selector!);
    t.same(apps.map((app) => app.metadata.name), [`app-${pool.name}`], `${service.metadata.name} selects its app's pods only`);
    const app = containerOf(apps[0]!);
    // A headless Service remaps nothing: Switchyard connects to podIP:discover.port.
    const [servicePort] = service.spec!.ports!;
    t.equal(containerPort(app, servicePort!.targetPort ?? servicePort!.port), discover.port, `${pool.name}: discover.port is the pods' container port`);
    t.equal(servicePort!.port, discover.port, `${pool.name}: and the Service's port says the same`);

    t.equal(cliArgs(app)[0], 'demo-app');
    const options = await parsedOptions(cliArgs(app));
    t.equal(options.pool, pool.name, `${pool.name}'s app reports pool ${pool.name}`);
    t.equal(options.appVersion, pool.version, `${pool.name}'s app reports version ${pool.version}`);
    t.equal(options.port, discover.port, `${pool.name}'s app listens on ${discover.port}`);
    t.equal(options.host, '0.0.0.0', 'on the pod IP');
    t.equal(app.readinessProbe?.httpGet?.path, pool.healthCheck.path, `${pool.name}: kubelet and Switchyard check the same path`);
    t.equal(containerPort(app, app.readinessProbe!.httpGet!.port), discover.port, 'on the same port');
  }
});

t.test('every selector selects exactly the pods it means', async (t) => {
  for (const deployment of all('Deployment')) {
    const { matchLabels } = deployment.spec!.selector!;
    t.ok(matchLabels && selects(matchLabels, deployment.spec!.template!.metadata.labels), `${deployment.metadata.name}: its selector matches its pods`);
    t.same(selected(matchLabels!).map((item) => item.metadata.name), [deployment.metadata.name], `${deployment.metadata.name}: and no other Deployment's`);
  }
  for (const service of all('Service')) {
    const targets = selected(service.spec!.selector!);
    t.equal(targets.length, 1, `Service ${service.metadata.name} selects one Deployment's pods`);
    for (const port of service.spec!.ports!) {
      t.ok(containerPort(containerOf(targets[0]!), port.targetPort ?? port.port), `Service ${service.metadata.name}:${port.port} → a container port of ${targets[0]!.metadata.name}`);
    }
  }
  const pdb = one('PodDisruptionBudget', 'switchyard');
  t.same(selected(pdb.spec!.selector!.matchLabels!), [switchyard], 'the disruption budget covers the Switchyard pods');
  t.ok(pdb.spec!.minAvailable! >= 1 && pdb.spec!.minAvailable! < switchyard.spec!.replicas!, 'and lets a node drain take one replica at a time');
  const spread = podSpec(switchyard).affinity!.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!;
  t.same(selected(spread.podAffinityTerm.labelSelector.matchLabels), [switchyard], 'replicas are spread across nodes by their own labels');
});

t.test('Switchyard: 2 replicas, ports from the config, probes on the admin port', async (t) => {
  t.equal(switchyard.spec!.replicas, 2);
  t.equal(containerPort(proxy, 'http'), config.listen.port, 'container port http is listen.port');
  t.equal(containerPort(proxy, 'admin'), config.admin.port, 'container port admin is admin.port');
  t.equal(containerPort(proxy, 'https'), config.tls!.port, 'container port https is tls.port');
  t.same(proxy.ports!.map((port) => port.containerPort).sort(), [config.listen.port, config.admin.port, config.tls!.port].sort(), 'no other ports');
  t.equal(proxy.readinessProbe?.httpGet?.path, '/readyz');
  t.equal(proxy.livenessProbe?.httpGet?.path, '/healthz');
  for (const probe of [proxy.readinessProbe!, proxy.livenessProbe!]) {
    t.equal(containerPort(proxy, probe.httpGet!.port), config.admin.port, `${probe.httpGet!.path} is asked on the admin port`);
  }
  const [front] = one('Service', 'switchyard').spec!.ports!;
  t.equal(containerPort(proxy, front!.targetPort!), config.listen.port, 'Service switchyard reaches the proxy listener');
  const https = one('Service', 'switchyard').spec!.ports!.find((port) => port.name === 'https');
  t.equal(https?.port, 443, 'Service switchyard takes HTTPS on 443…');
  t.equal(containerPort(proxy, https!.targetPort!), config.tls!.port, '…and reaches the TLS listener');
  const [admin] = one('Service', 'switchyard-admin').spec!.ports!;
  t.equal(containerPort(proxy, admin!.targetPort!), config.admin.port, 'Service switchyard-admin reaches the admin API');
  t.not(one('Service', 'switchyard-admin').spec!.clusterIP, 'None');
});

t.test('shutdown: the pauses and the grace periods fit the config', async (t) => {
  const pause = pauseSeconds(proxy);
  const grace = podSpec(switchyard).terminationGracePeriodSeconds!;
  t.ok(pause >= 3, `Switchyard pauses ${pause} s for endpoints to update before SIGTERM`);
  t.ok(grace >= pause + config.shutdown.graceMs / 1000 + 5,
    `terminationGracePeriodSeconds ${grace} ≥ pause ${pause} + shutdown.graceMs ${config.shutdown.graceMs / 1000} + a 5 s margin`);
  for (const pool of config.pools) {
    const app = appOf(pool.name);
    const appPause = pauseSeconds(containerOf(app));
    // The next resolve comes at most refreshMs + 10% jitter later (cluster DNS TTLs are no longer than that here).
    t.ok(appPause >= pool.discover!.refreshMs * 1.1 / 1000 + 1,
      `${app.metadata.name} keeps serving ${appPause} s: past Switchyard's next resolve (${pool.discover!.refreshMs * 1.1} ms)`);
    t.ok(podSpec(app).terminationGracePeriodSeconds! > appPause + 5, `${app.metadata.name}: its grace period outlasts the pause`);
  }
  // `sleep` must exist in the image: the runtime stage is Debian-based node:*-slim, not distroless.
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  t.match(dockerfile, /^FROM node:\d+-slim AS runtime$/m, 'the image has coreutils (sleep)');
});

t.test('Redis: state.url names the Redis Service and its port', async (t) => {
  t.equal(config.state.store, 'redis', 'the replicas share their routing state');
  const url = new URL(config.state.url);
  const redis = one('Service', 'redis');
  t.equal(url.hostname, `${redis.metadata.name}.${redis.metadata.namespace}.svc.cluster.local`, 'the Redis Service, fully qualified');
  const [port] = redis.spec!.ports!;
  t.equal(Number(url.port), port!.port, 'on its port');
  const [deployment] = selected(redis.spec!.selector!);
  t.equal(containerPort(containerOf(deployment!), port!.targetPort!), 6379, 'which reaches redis-server');
  t.match(containerOf(deployment!).image, /^redis:/);
  t.not(redis.spec!.clusterIP, 'None', 'one stable address (ioredis reconnects to it)');
});

t.test('the config is mounted where the command reads it, from the ConfigMap that holds it', async (t) => {
  const mount = proxy.volumeMounts!.find((item) => item.name === configVolume.name)!;
  t.ok(mount, 'the container mounts the config volume');
  const item = configVolume.configMap!.items!.find((entry) => entry.key === configKey)!;
  t.ok(configKey in configMap.data!, `ConfigMap ${configMap.metadata.name} has key ${configKey}`);
  t.equal(cliArgs(proxy)[0], 'start');
  t.equal((await parsedOptions(cliArgs(proxy))).config, `${mount.mountPath}/${item.path}`, 'start --config names the mounted file');
  t.equal(mount.subPath, undefined, 'a directory mount, so kubelet updates the file when the ConfigMap changes');
  t.equal(mount.readOnly, true);
});

t.test('HTTPS: the pair comes from the kubernetes.io/tls Secret the README creates, mounted as a folder that kubelet can update', async (t) => {
  const secret = tlsVolume.secret!;
  t.equal(secret.secretName, 'switchyard-tls');
  t.equal(secret.items, undefined, 'every key of the Secret: tls.crt and tls.key');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.ok(readme.includes(`kubectl -n ${NAMESPACE} create secret tls ${secret.secretName} --cert=`), `README creates Secret ${secret.secretName} (type kubernetes.io/tls)`);
  // The config as written (before this test moved the folder) names the Secret's two keys in the mount.
  const written = parse(configText) as { tls: { certificates: Array<{ cert: string; key: string }> } };
  t.same(written.tls.certificates, [{ cert: `${tlsMount.mountPath}/tls.crt`, key: `${tlsMount.mountPath}/tls.key` }],
    `tls.certificates names tls.crt and tls.key under ${tlsMount.mountPath}`);
  t.same(config.tls!.certificates, [{ cert: join(tlsDir, 'tls.crt'), key: join(tlsDir, 'tls.key') }], 'the test moved exactly those');
  t.equal(tlsMount.subPath, undefined, 'a folder mount: kubelet swaps its ..data symlink on an update (a subPath mount never sees one)');
  t.equal(tlsMount.readOnly, true);
  for (const mount of proxy.volumeMounts!) {
    for (const other of proxy.volumeMounts!) {
      if (mount !== other) t.notOk(other.mountPath.startsWith(`${mount.mountPath}/`), `${other.mountPath} is not inside ${mount.mountPath} (a read-only mount)`);
    }
  }
  // The key is readable by the container's user and by nobody else: group-readable, group fsGroup.
  const mode = secret.defaultMode ?? 0o644;
  t.equal(mode & 0o007, 0, `defaultMode ${mode.toString(8)}: not world-readable`);
  t.ok(mode & 0o040 && podSpec(switchyard).securityContext?.fsGroup !== undefined, 'group-readable, and the pod has an fsGroup for it');
  t.ok(proxy.securityContext?.runAsUser !== 0, 'Switchyard does not run as root');
  t.equal(config.tls!.host, '0.0.0.0', 'the TLS listener listens on the pod IP');
});

t.test('the admin token comes from the Secret the README tells you to create', async (t) => {
  const ref = proxy.env!.find((variable) => variable.name === 'SWITCHYARD_ADMIN_TOKEN')!.valueFrom!.secretKeyRef!;
  t.ok(ref, 'SWITCHYARD_ADMIN_TOKEN is a Secret reference, not a value');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.ok(readme.includes(`kubectl -n ${NAMESPACE} create secret generic ${ref.name} --from-literal=${ref.key}=`), `README creates Secret ${ref.name} with key ${ref.key}`);
  t.ok(readme.includes('kubectl apply -f deploy/kubernetes/'), 'README applies the directory');
});

t.test('images: the one this repository builds; commands the CLI accepts', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const deployment of [switchyard, appOf('blue'), appOf('green')]) {
    const container = containerOf(deployment);
    t.equal(container.image, 'switchyard-proxy:local', `${deployment.metadata.name} runs the Dockerfile's image`);
    t.equal(container.imagePullPolicy, 'IfNotPresent', 'a local tag: never pulled');
    await t.resolves(parsedOptions(cliArgs(container)), `switchyard ${cliArgs(container).join(' ')} parses`);
  }
  t.ok(readme.includes('docker build -t switchyard-proxy:local .'), 'README builds that image');
  t.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), /^WORKDIR \/app$/m, 'dist/cli/main.js is relative to the image\'s WORKDIR');
  t.ok(existsSync(join(ROOT, 'src/cli/main.ts')), 'dist/cli/main.js is built from src/cli/main.ts');
});

const HOSTS: Record<string, string[]> = { blue: ['127.0.0.2', '127.0.0.3'], green: ['127.0.0.4', '127.0.0.5'] };

if (requireDnsmasq(t)) t.test('the cluster in miniature: DNS for the Services, the apps as deployed, the ConfigMap config', async (t) => {
  const dns = await dnsmasqFor(t, { zone: 'cluster.local', ttlSeconds: 1 });
  // One port on every address, as in a cluster (each pod has its own IP); 127.0.0.1's free port serves.
  const port = await closedPort();
  for (const pool of config.pools) {
    const deployment = appOf(pool.name);
    t.equal(deployment.spec!.replicas, HOSTS[pool.name]!.length, `${deployment.metadata.name}: one address a replica`);
    const container = containerOf(deployment);
    for (const [index, host] of HOSTS[pool.name]!.entries()) {
      // The manifest's arguments as kubelet passes them (`$(POD_NAME)` expanded); only the address is the test's.
      const options = await parsedOptions(cliArgs(container).map((arg) => kubeletExpand(arg, environment(container, `${deployment.metadata.name}-${index}`))));
      const app = createDemoApp({ pool: String(options.pool), version: String(options.appVersion), instance: String(options.instance) });
      await new Promise<void>((resolve) => app.listen(port, host, resolve));
      t.teardown(() => new Promise<void>((resolve) => { app.close(() => resolve()); app.closeAllConnections(); }));
    }
  }
  await t.rejects(parsedOptions(['demo-app', '--colour', 'blue']), 'an unknown option in a manifest would fail here');
  await dns.setRecords(Object.fromEntries(config.pools.map((pool) => [pool.discover!.dns, HOSTS[pool.name]!])));

  const document = parse(localText) as Record<string, Record<string, unknown>>;
  for (const pool of Object.values(document.pools as Record<string, { discover: Record<string, unknown> }>)) pool.discover.port = port;
  const running = await Switchyard.start(resolveConfig({
    ...document,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { ...document.admin, host: '127.0.0.1', port: 0 },
    tls: { ...document.tls, host: '127.0.0.1', port: 0 },
    state: { store: 'memory' }, // the shared state has tests of its own (test/fleet)
    resolver: { servers: [dns.server] },
  }, env), { logDestination: new LogSink() });
  t.teardown(() => running.close());
  const auth = { authorization: `Bearer ${TOKEN}` };

  for (const probe of [proxy.readinessProbe!, proxy.livenessProbe!]) {
    t.equal((await send(running.adminUrl, probe.httpGet!.path)).status, 200, `${probe.httpGet!.path}: 200 without a token, as kubelet asks`);
  }
  t.equal((await send(running.adminUrl, '/status')).status, 401, 'the rest of the admin API needs the token');
  for (const pool of config.pools) {
    const ids = HOSTS[pool.name]!.map((host) => `${host}:${port}`).sort();
    await waitFor(`${pool.name}: every pod discovered and healthy`, async () => {
      const list = JSON.parse((await send(running.adminUrl, `/pools/${pool.name}/targets`, { headers: auth })).body.toString()) as Array<{ id: string; source: string; healthy: boolean }>;
      return JSON.stringify(list.filter((target) => target.source === 'dns' && target.healthy).map((target) => target.id).sort()) === JSON.stringify(ids);
    }, { timeoutMs: 10_000 });
  }

  const answer = async () => JSON.parse((await send(running.proxyUrl, '/')).body.toString()) as { pool: string; version: string; instance: string };
  t.match(await answer(), { pool: 'blue', version: '1.0.0', instance: /^app-blue-\d$/ }, 'blue serves first, each pod named by $(POD_NAME)');
  const admin = { SWITCHYARD_ADMIN_URL: running.adminUrl, SWITCHYARD_ADMIN_TOKEN: TOKEN };
  const flip = await cli(['flip', 'green'], admin);
  t.equal(flip.code, 0, `switchyard flip green (${flip.err.trim()})`);
  t.match(await answer(), { pool: 'green', version: '2.0.0', instance: /^app-green-\d$/ }, 'one call and green serves');
  const tlsPort = Number(new URL(running.tlsUrl!).port);
  const overHttps = await httpsGet(tlsPort, '/', SERVICE_NAME, ca.ca);
  t.equal(overHttps.status, 200, `https://${SERVICE_NAME}/ verifies against the CA of the Secret's certificate`);
  t.match(JSON.parse(overHttps.body), { pool: 'green', version: '2.0.0' }, 'and is routed like the plain listener');

  // The Secret renewed: kubelet writes the new version and swaps ..data; no reload, no restart.
  const renewed = ca.leaf('secret-2', [SERVICE_NAME, 'localhost']);
  t.not(serialOf(renewed.cert), (await handshake(tlsPort, { servername: SERVICE_NAME, ca: ca.ca })).serial);
  const swapped = Date.now();
  kubeletWrites(renewed);
  await waitFor('new handshakes get the renewed certificate', async () =>
    (await handshake(tlsPort, { servername: SERVICE_NAME, ca: ca.ca })).serial === serialOf(renewed.cert), { timeoutMs: 4000, intervalMs: 50 });
  const elapsed = Date.now() - swapped;
  t.ok(elapsed <= 2500, `the renewed certificate served ${elapsed} ms after the ..data swap (SPEC: within 2 s)`);
  t.equal((await httpsGet(tlsPort, '/', SERVICE_NAME, ca.ca)).status, 200);

  const rollback = await cli(['rollback'], admin);
  t.equal(rollback.code, 0, `switchyard rollback (${rollback.err.trim()})`);
  t.match(await answer(), { pool: 'blue', version: '1.0.0' }, 'one call and blue is back');
});

// A private test network for partition tests: network namespaces, each joined to a bridge
// by a veth pair, on a private 10.199.x.0/24 range used only here. The bridge's address
// (`hostIp`, this test process's side) reaches every namespace; two namespaces can be cut
// off from each other with a blackhole route in each (`tc` is not available on these
// machines) while both still talk to the host. Needs root and iproute2; everything made is
// removed on teardown, failed or not.
import { spawnSync } from 'node:child_process';
import type { Test } from 'tap';

export interface Namespace {
  name: string;
  /** This namespace's address on the bridge. */
  ip: string;
  /** Prefix for running a command inside it: `['ip', 'netns', 'exec', name]`. */
  exec: readonly string[];
}

export interface TestNet {
  hostIp: string;
  namespaces: Namespace[];
  /**
   * Drops everything `a` and `b` send each other, both ways (a blackhole route in each: local
   * senders get EINVAL, packets in flight vanish); the host still reaches both.
   */
  partition(a: Namespace, b: Namespace): void;
  heal(a: Namespace, b: Namespace): void;
  /** `ss` inside a namespace: TCP sockets to `ip` and the bytes each still has to send. */
  unsent(ns: Namespace, ip: string): number[];
}

function ip(...args: string[]): string {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')}: ${run.stderr || run.error?.message || `exit ${run.status}`}`);
  return run.stdout;
}

/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)';
  const version = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (version.status !== 0) return 'iproute2 (`ip`) is not installed';
  const probe = `sy${process.pid % 100_000}probe`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot create a network namespace: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/** A third octet no interface here uses yet, so parallel runs and the host's own networks never clash. */
function freeSubnet(): number {
  const used = ip('-o', '-4', 'addr');
  for (let i = 0; i < 200; i++) {
    const octet = 20 + ((process.pid + i) % 200);
    if (!used.includes(`10.199.${octet}.`)) return octet;
  }
  throw new Error('no free 10.199.x.0/24 subnet');
}

/** Builds the network; `t.teardown` removes it (namespaces, veth pairs, bridge). */
export function testNet(t: Test, count: number): TestNet {
  const id = `sy${process.pid % 100_000}`;
  const octet = freeSubnet();
  const prefix = `10.199.${octet}`;
  const bridge = `${id}br`;
  const namespaces: Namespace[] = [];
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const ns of namespaces) {
      // Whatever still runs in a namespace made here was started by this test (and outlived it).
      const pids = spawnSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' }).stdout.split('\n').filter((pid) => pid !== '');
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch { /* already gone */ }
      }
      spawnSync('ip', ['netns', 'del', ns.name]);
    }
    // Host ends of the veth pairs go with their peers once the namespaces are freed; delete them now anyway.
    for (let i = 0; i < namespaces.length; i++) spawnSync('ip', ['link', 'del', `${id}h${i}`]);
    spawnSync('ip', ['link', 'del', bridge]);
  };
  // On teardown, and also if the test process exits without it (a crash, a timeout kill).
  t.teardown(cleanup);
  process.once('exit', cleanup);
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${prefix}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 0; i < count; i++) {
      const name = `${id}n${i}`;
      const exec = ['ip', 'netns', 'exec', name] as const;
      ip('netns', 'add', name);
      namespaces.push({ name, ip: `${prefix}.${10 + i}`, exec });
      ip('link', 'add', `${id}h${i}`, 'type', 'veth', 'peer', 'name', `${id}v${i}`);
      ip('link', 'set', `${id}v${i}`, 'netns', name);
      ip('link', 'set', `${id}h${i}`, 'master', bridge);
      ip('link', 'set', `${id}h${i}`, 'up');
      ip('-n', name, 'addr', 'add', `${prefix}.${10 + i}/24`, 'dev', `${id}v${i}`);
      ip('-n', name, 'link', 'set', `${id}v${i}`, 'up');
      ip('-n', name, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
    hostIp: `${prefix}.1`,
    namespaces,
    partition: (a, b) => {
      ip('-n', a.name, 'route', 'add', 'blackhole', `${b.ip}/32`);
      ip('-n', b.name, 'route', 'add', 'blackhole', `${a.ip}/32`);
    },
    heal: (a, b) => {
      ip('-n', a.name, 'route', 'del', 'blackhole', `${b.ip}/32`);
      ip('-n', b.name, 'route', 'del', 'blackhole', `${a.ip}/32`);
    },
    unsent: (ns, to) => {
      const run = spawnSync('ip', ['netns', 'exec', ns.name, 'ss', '-Htn', 'state', 'all', 'dst', to], { encoding: 'utf8' });
      // Columns: State Recv-Q Send-Q Local Peer
      return run.stdout.split('\n').filter((line) => line.trim() !== '').map((line) => Number(line.trim().split(/\s+/)[2]));
    },
  };
}

// `switchyard targets [POOL]` and `switchyard target drain|maint|ready|weight|add|remove`
// (SPEC §11): a pool's targets at run time, through /pools/:pool/targets.
import { Option, type Command } from 'commander';
import type { StatusView } from '../../admin/status-view.js';
import { MAX_TARGET_WEIGHT, MIN_TARGET_WEIGHT, targetId } from '../../pool/target-admin.js';
import type { AdminClient } from '../admin-client.js';
import { formatMs, parseDuration } from '../duration.js';
import { formatTargets, targetLine, type TargetView } from '../format-targets.js';
import { EXIT, useColor, type CliIo } from '../io.js';
import { ReportedError, UsageError, type CommandResult } from '../result.js';
import { drainedEverywhere, readTarget, readTargets, targetPath, targetsPath } from '../target-wait.js';
import { waitUntil, WaitTimeout } from '../poll.js';

interface ClientFlags {
  admin?: string;
  token?: string;
  json?: boolean;
}

interface ChangeFlags extends ClientFlags {
  reason?: string;
  ifMatch?: string;
  force?: boolean;
  wait?: boolean;
  timeout?: string;
}

type State = 'ready' | 'drain' | 'maint';

const DEFAULT_WAIT = '5m';

export function registerTargetCommands(program: Command, io: CliIo, run: (result: CommandResult) => void,
  withClientFlags: (command: Command) => Command, clientOf: (flags: ClientFlags) => AdminClient): void {
  const color = () => useColor(io);
  const withChangeFlags = (command: Command) => withClientFlags(command)
    .option('--reason <text>', 'why, recorded with the change (GET /events)')
    .option('--if-match <revision>', 'apply only if the targets revision (the ETag of GET /pools/POOL/targets) is still this one');
  const headersOf = (flags: ChangeFlags): Record<string, string> =>
    flags.ifMatch === undefined ? {} : { 'if-match': `"${flags.ifMatch}"` };
  const extrasOf = (flags: ChangeFlags) => ({
    ...(flags.force ? { force: true } : {}),
    ...(flags.reason === undefined ? {} : { reason: flags.reason }),
  });
  const show = (flags: ClientFlags, pool: string, target: TargetView) =>
    io.out(flags.json ? JSON.stringify(target, null, 2) : targetLine(pool, target));

  withClientFlags(program.command('targets')
    .argument('[pool]', 'one pool (default: every pool)')
    .description('the targets of a pool (or of every pool): state, weight, effective weight, health, in-flight, drain'))
    .action((pool: string | undefined, flags: ClientFlags) => run(async () => {
      const client = clientOf(flags);
      const names = pool !== undefined ? [pool] : Object.keys((await client.get<StatusView>('/status')).pools);
      const pools: Record<string, TargetView[]> = {};
      for (const name of names) pools[name] = await readTargets(client, name);
      if (flags.json) io.out(JSON.stringify(pool !== undefined ? pools[pool] : { pools }, null, 2));
      else io.out(formatTargets(pools, { color: color() }));
      return EXIT.OK;
    }));

  const target = program.command('target')
    .description('change one target of a pool: drain, maint, ready, weight, add, remove (ID is host:port, or the target\'s URL)');

  const stateCommand = (state: State, description: string, waitText: string) =>
    withChangeFlags(target.command(state).argument('<pool>').argument('<id>', 'host:port (or the target\'s URL)').description(description))
      .option('--force', state === 'ready' ? 'accepted for symmetry; ready never needs it' : 'even if it leaves a pool that has weight without a ready target')
      .option('--wait', waitText)
      .option('--timeout <duration>', `with --wait: give up after this long, exit 1 (default ${DEFAULT_WAIT})`)
      .action((pool: string, idText: string, flags: ChangeFlags) => run(async () => {
        const id = idOf(idText);
        const timeoutMs = timeoutOf(flags);
        const client = clientOf(flags);
        const changed = await client.put<TargetView>(targetPath(pool, id), { state, ...extrasOf(flags) }, headersOf(flags));
        if (!flags.wait) {
          show(flags, pool, changed);
          return EXIT.OK;
        }
        if (!flags.json) io.out(targetLine(pool, changed));
        const started = Date.now();
        const done = state === 'ready' ? (view: TargetView | null) => view?.ready === true : drainedEverywhere;
        const what = state === 'ready' ? 'back in rotation' : 'drained';
        const final = await waitOrExplain(() => readTarget(client, pool, id), (view) => view === null || done(view), what,
          timeoutMs, (last) => waitFailure(pool, id, state, last));
        if (final === null) throw failure(io, `${pool} ${id} left the pool while waiting (removed by someone else?)`);
        if (flags.json) io.out(JSON.stringify(final, null, 2));
        else io.out(`${pool} ${id}: ${what} after ${formatMs(Date.now() - started)}${final.drainedAt === null ? '' : ` (drainedAt ${final.drainedAt})`}`);
        return EXIT.OK;
      }));

  /** Runs the wait; on a timeout prints `explain(last)` on stderr and exits 1. */
  const waitOrExplain = async <T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs: number,
    explain: (last: T | undefined) => string): Promise<T> => {
    try {
      return await waitUntil(read, done, what, { timeoutMs, onRetry: (err) => io.err(`${err.message}; trying again`) });
    } catch (err) {
      if (err instanceof WaitTimeout) throw failure(io, `timed out after ${formatMs(timeoutMs)}: ${explain(err.last as T | undefined)}`);
      throw err;
    }
  };

  stateCommand('drain', 'take a target out of rotation: no new requests, in-flight requests and tunnels finish, health checks go on',
    'return once its in-flight requests have finished (drainedAt set); exit 1 if not within --timeout');
  stateCommand('maint', 'maintenance: out of rotation like drain, and health checks stop',
    'return once its in-flight requests have finished (drainedAt set); exit 1 if not within --timeout');
  stateCommand('ready', 'back into rotation (slow start applies)',
    'return once it takes requests again (healthy, not ejected); exit 1 if not within --timeout');

  withChangeFlags(target.command('weight').argument('<pool>').argument('<id>', 'host:port (or the target\'s URL)')
    .argument('<weight>', `${MIN_TARGET_WEIGHT} to ${MAX_TARGET_WEIGHT}: its share of the pool's traffic in proportion to the others`)
    .description('set a target\'s weight within its pool'))
    .action((pool: string, idText: string, weightText: string, flags: ChangeFlags) => run(async () => {
      const id = idOf(idText);
      const weight = weightOf(weightText, 'weight');
      show(flags, pool, await clientOf(flags).put<TargetView>(targetPath(pool, id), { weight, ...extrasOf(flags) }, headersOf(flags)));
      return EXIT.OK;
    }));

  withChangeFlags(target.command('add').argument('<pool>').argument('<url>', 'the target\'s origin, e.g. http://10.0.0.7:3001')
    .description('add a target to a pool (kept in the shared state: it survives a reload; health-checked before it gets requests)'))
    .option('--weight <n>', `${MIN_TARGET_WEIGHT} to ${MAX_TARGET_WEIGHT} (default 100)`)
    .addOption(new Option('--state <state>', 'its admin state (default ready)').choices(['ready', 'drain', 'maint']))
    .action((pool: string, url: string, flags: ChangeFlags & { weight?: string; state?: State }) => run(async () => {
      const body = {
        url,
        ...(flags.state === undefined ? {} : { state: flags.state }),
        ...(flags.weight === undefined ? {} : { weight: weightOf(flags.weight, '--weight') }),
        ...extrasOf(flags),
      };
      show(flags, pool, await clientOf(flags).post<TargetView>(targetsPath(pool), body, headersOf(flags)));
      return EXIT.OK;
    }));

  withChangeFlags(target.command('remove').argument('<pool>').argument('<id>', 'host:port (or the target\'s URL)')
    .description('remove a target: it drains, then leaves the pool (a reload does not bring a config target back)'))
    .option('--force', 'even if it leaves a pool that has weight without a ready target')
    .option('--wait', 'return once it has left the pool; exit 1 if not within --timeout')
    .option('--timeout <duration>', `with --wait: give up after this long, exit 1 (default ${DEFAULT_WAIT})`)
    .action((pool: string, idText: string, flags: ChangeFlags) => run(async () => {
      const id = idOf(idText);
      const timeoutMs = timeoutOf(flags);
      const client = clientOf(flags);
      const removing = await client.delete<TargetView>(targetPath(pool, id), extrasOf(flags), headersOf(flags));
      if (!flags.wait) {
        show(flags, pool, removing);
        return EXIT.OK;
      }
      if (!flags.json) io.out(targetLine(pool, removing));
      const started = Date.now();
      await waitOrExplain(() => readTarget(client, pool, id), (view) => view === null, 'removed', timeoutMs,
        (last) => `${pool} ${id} is still in the pool${last ? ` (in-flight ${last.inflight})` : ''}; it leaves once drained (drain.timeoutMs cuts what remains)`);
      if (flags.json) io.out(JSON.stringify({ pool, id, removed: true }));
      else io.out(`${pool} ${id}: removed after ${formatMs(Date.now() - started)}`);
      return EXIT.OK;
    }));
}

/** A target id from the command line: `host:port` as is, a URL turned into its `host:port`. */
export function idOf(text: string): string {
  if (!text.includes('://')) return text;
  try {
    return targetId(text);
  } catch {
    throw new UsageError(`ID is a target's host:port or its URL, got "${text}"`);
  }
}

/** A weight argument: an integer in the admin API's range, or bad usage (exit 2). */
export function weightOf(text: string, what: string): number {
  const weight = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(weight >= MIN_TARGET_WEIGHT && weight <= MAX_TARGET_WEIGHT)) {
    throw new UsageError(`${what} takes a whole number from ${MIN_TARGET_WEIGHT} to ${MAX_TARGET_WEIGHT}, got "${text}"`);
  }
  return weight;
}

function timeoutOf(flags: ChangeFlags): number {
  if (flags.timeout !== undefined && !flags.wait) throw new UsageError('--timeout goes with --wait');
  const ms = parseDuration(flags.timeout ?? DEFAULT_WAIT);
  if (ms === null || ms <= 0) throw new UsageError(`--timeout takes a duration like 30s or 5m, got "${flags.timeout}"`);
  return ms;
}

/** Why a --wait on a state change timed out, from the last view read. */
function waitFailure(pool: string, id: string, state: State, last: TargetView | null | undefined): string {
  if (last === undefined) return `${pool} ${id}: the admin API never answered`;
  if (last === null) return `${pool} ${id} left the pool`;
  if (state === 'ready') {
    const why = last.state !== 'ready' ? `its state is ${last.state} (changed by someone else?)` : last.ejected ? 'it is ejected' : 'it is not healthy';
    return `${pool} ${id} is not back in rotation: ${why}${last.lastCheck && !last.lastCheck.ok ? `; last check: ${last.lastCheck.error ?? last.lastCheck.status}` : ''}`;
  }
  return `${pool} ${id} still has ${last.inflight} request${last.inflight === 1 ? '' : 's'} in flight; it stays in ${last.state} (out of rotation)`;
}

/** Prints the message and gives the error that exits 1 without another line. */
function failure(io: CliIo, message: string): ReportedError {
  io.err(message);
  return new ReportedError(message);
}

// Drives `switchyard roll` (SPEC §11) through the admin API: for each batch of targets,
// drain → wait drained → CMD → wait healthy on a check after CMD, for --min-ready → ready.
// The first failure stops the roll with that target in maint; nothing else is touched.
import type { StatusView } from '../admin/status-view.js';
import { RefusedError, type AdminClient } from './admin-client.js';
import type { TargetView } from './format-targets.js';
import { execFailure, runExec } from './roll-exec.js';
import { batchRefusal, planRoll, ReadyGate } from './roll-plan.js';
import type { RollEvent, RollStep } from './roll-progress.js';
import { drainedEverywhere, readTarget, readTargets, targetPath } from './target-wait.js';
import { waitUntil, WaitTimeout, type WaitOptions } from './poll.js';
import { formatMs } from './duration.js';

export interface RollOptions {
  pool: string;
  /** The shell command run for each target. */
  command: string;
  maxUnavailable: number;
  minReadyMs: number;
  /** Bound on each wait: drained, CMD itself, healthy after CMD (ms). */
  timeoutMs: number;
  /** CMD's environment, before the SWITCHYARD_* variables are added. */
  env: NodeJS.ProcessEnv;
  emit: (event: RollEvent) => void;
  /** A line of CMD's output for `target`. */
  onOutput: (target: string, line: string) => void;
  /** A failed poll that will be retried. */
  onRetry?: (err: Error) => void;
  /** Fired on Ctrl-C: the roll stops where it is. */
  signal?: AbortSignal;
  pollMs?: number;
}

export interface RollResult {
  ok: boolean;
  rolled: string[];
  /** On failure: what stopped the roll, naming the target. */
  message?: string;
}

/** The reason recorded with every change the roll makes (GET /events). */
export const ROLL_REASON = 'roll';

export async function roll(client: AdminClient, options: RollOptions): Promise<RollResult> {
  const { pool } = options;
  const emit = (step: RollStep, message: string, details: Record<string, unknown> = {}, target?: string) =>
    options.emit({ step, pool, ...(target === undefined ? {} : { target }), at: new Date().toISOString(), message, ...details });
  const waitOptions = (timeoutMs: number): WaitOptions => ({
    timeoutMs,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const weightOf = async () => (await client.get<StatusView>('/status')).pools[pool]?.weight ?? 0;
  const timeoutText = formatMs(options.timeoutMs);
  const rolled: string[] = [];
  const started = Date.now();

  const first = await readTargets(client, pool);
  const plan = planRoll(pool, await weightOf(), first, options.maxUnavailable);
  if ('refused' in plan) {
    emit('done', `refused: ${plan.refused}`, { ok: false, rolled });
    return { ok: false, rolled, message: plan.refused };
  }
  emit('plan', `${plan.batches.flat().length} target${plan.batches.flat().length === 1 ? '' : 's'} in ${plan.batches.length} batch${plan.batches.length === 1 ? '' : 'es'} `
    + `of up to ${plan.batchSize}: ${plan.batches.map((batch) => batch.join(' + ')).join(', then ')}; min-ready ${formatMs(options.minReadyMs)}, timeout ${timeoutText}`,
  { batches: plan.batches, maxUnavailable: plan.batchSize, minReadyMs: options.minReadyMs, timeoutMs: options.timeoutMs });
  for (const note of plan.notes) emit('note', note);
  for (const skip of plan.skipped) emit('skip', skip.why, {}, skip.id);

  /** Takes one target through its steps; null when it is back in rotation, else why it stopped. */
  const rollTarget = async (view: TargetView): Promise<string | null> => {
    const id = view.id;
    const path = targetPath(pool, id);
    let step: RollStep = 'drain';
    const fail = (why: string, details: Record<string, unknown> = {}) => {
      emit('failed', why, details, id);
      return `${id}: ${why}`;
    };
    /** Parks the target in maint: out of rotation, health checks off, until an operator looks. */
    const toMaint = async (why: string): Promise<string> => {
      try {
        // force: the target is already out (drain); maint takes nothing more from the pool.
        await client.put(path, { state: 'maint', force: true, reason: `${ROLL_REASON}: ${why}` });
        emit('maint', `left in maint (switchyard target ready ${pool} ${id} brings it back)`, {}, id);
        return fail(`${why}; left in maint`);
      } catch (err) {
        return fail(`${why}; could not put it in maint (${(err as Error).message}): it is still in drain`);
      }
    };
    try {
      let draining: TargetView;
      try {
        draining = await client.put<TargetView>(path, { state: 'drain', reason: ROLL_REASON });
      } catch (err) {
        if (err instanceof RefusedError) return fail(`drain refused (${err.status} ${err.code}: ${err.message}); left as it was`);
        throw err;
      }
      emit('drain', `draining (${draining.inflight} in flight)`, {}, id);
      step = 'drained';
      const drainStart = Date.now();
      let drained: TargetView | null;
      try {
        drained = await waitUntil(() => readTarget(client, pool, id), (current) => current === null || drainedEverywhere(current),
          `${id} drained`, waitOptions(options.timeoutMs));
      } catch (err) {
        if (!(err instanceof WaitTimeout)) throw err;
        // CMD has not run: the target is as it was, so it goes back rather than to maint.
        await client.put(path, { state: 'ready', reason: `${ROLL_REASON}: not drained within ${timeoutText}` });
        const last = err.last as TargetView | null | undefined;
        return fail(`not drained within ${timeoutText} (${last?.inflight ?? '?'} still in flight); CMD not run, put back to ready`);
      }
      if (drained === null) return fail('left the pool while draining (removed by someone else?)');
      emit('drained', `0 in flight after ${formatMs(Date.now() - drainStart)}`, { drainedAt: drained.drainedAt }, id);

      step = 'exec';
      // One line however CMD is written (a `case` over several lines reads fine in a shell, not in a log).
      emit('exec', options.command.replace(/\s+/g, ' ').trim(), { url: view.url }, id);
      const result = await runExec(options.command, {
        env: { ...options.env, SWITCHYARD_POOL: pool, SWITCHYARD_TARGET: view.url, SWITCHYARD_TARGET_ID: id },
        onLine: (line) => options.onOutput(id, line),
        timeoutMs: options.timeoutMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      options.signal?.throwIfAborted();
      const execError = execFailure(result, timeoutText);
      if (execError !== null) return await toMaint(execError);
      const execEnd = Date.now();
      emit('exec-done', `exit 0 after ${formatMs(result.ms)}`, { ms: result.ms }, id);

      step = 'healthy';
      const baseline = (await readTarget(client, pool, id))?.lastCheck?.at ?? null;
      const gate = new ReadyGate(options.minReadyMs, baseline);
      let announced = false;
      try {
        const back = await waitUntil(() => readTarget(client, pool, id), (current) => {
          if (current === null) return true;
          const stable = gate.observe(current, Date.now());
          if (gate.healthySince !== null && !announced) {
            announced = true;
            emit('healthy', `healthy on a check after CMD, ${formatMs(Date.now() - execEnd)} after it; holding ${formatMs(options.minReadyMs)}`, {}, id);
          }
          return stable;
        }, `${id} healthy`, waitOptions(options.timeoutMs));
        if (back === null) return fail('left the pool after CMD (removed by someone else?)');
      } catch (err) {
        if (!(err instanceof WaitTimeout)) throw err;
        const last = err.last as TargetView | null | undefined;
        const check = last?.lastCheck;
        const lastText = check ? `; last check ${check.ok ? 'ok' : `failed: ${check.error ?? check.status}`}` : '';
        return await toMaint(`not healthy for ${formatMs(options.minReadyMs)} within ${timeoutText} after CMD${lastText}`);
      }

      step = 'ready';
      await client.put(path, { state: 'ready', reason: ROLL_REASON });
      emit('ready', `back in rotation after ${formatMs(Date.now() - drainStart)} out (slow start applies)`, {}, id);
      return null;
    } catch (err) {
      const state = step === 'drain' ? 'as it was' : 'in drain';
      if (options.signal?.aborted) return fail(`interrupted at ${step}; left ${state}`);
      return fail(`${(err as Error).message} (at ${step}); left ${state}`);
    }
  };

  for (const batch of plan.batches) {
    if (options.signal?.aborted) break;
    const targets = await readTargets(client, pool);
    const current = batch.map((id) => targets.find((target) => target.id === id));
    const going: TargetView[] = [];
    for (const [index, target] of current.entries()) {
      if (target === undefined) emit('skip', 'left the pool since the plan', {}, batch[index]);
      else if (target.state !== 'ready' || target.removing === true) emit('skip', `now in ${target.removing ? 'removal' : target.state} (changed since the plan): left as it is`, {}, target.id);
      else going.push(target);
    }
    if (going.length === 0) continue;
    const refusal = batchRefusal(pool, await weightOf(), targets, going.map((target) => target.id));
    if (refusal !== null) {
      emit('done', `stopped: ${refusal}`, { ok: false, rolled });
      return { ok: false, rolled, message: refusal };
    }
    const outcomes = await Promise.all(going.map(rollTarget));
    going.forEach((target, index) => {
      if (outcomes[index] === null) rolled.push(target.id);
    });
    const failures = outcomes.filter((outcome): outcome is string => outcome !== null);
    if (failures.length > 0) {
      const untouched = plan.batches.flat().filter((id) => !rolled.includes(id) && !going.some((target) => target.id === id));
      const message = `roll of ${pool} stopped: ${failures.join('; ')}${untouched.length > 0 ? `. Not touched: ${untouched.join(', ')}` : ''}`;
      emit('done', message, { ok: false, rolled, untouched });
      return { ok: false, rolled, message };
    }
  }
  if (options.signal?.aborted) {
    const message = `roll of ${pool} interrupted between batches; rolled: ${rolled.join(', ') || 'none'}`;
    emit('done', message, { ok: false, rolled });
    return { ok: false, rolled, message };
  }
  emit('done', `rolled ${rolled.length} target${rolled.length === 1 ? '' : 's'} of ${pool} in ${formatMs(Date.now() - started)}`, { ok: true, rolled });
  return { ok: true, rolled };
}

// `switchyard status --watch | head`: a reader that closes the pipe ends a client command
// quietly (exit 0, no stack trace on stderr) — whichever command, whenever the pipe closes.
// A serving proxy is not taken down by its output's reader going away.
import t from 'tap';
import { spawn } from 'node:child_process';
import { CLI_ENTRY } from '../helpers/cli.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

interface Closed {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  firstChunk: string;
}

/**
 * Runs the real CLI with stdout on a pipe whose reader closes once `closeWhen(output so far)`
 * holds (null: at once, before the command writes anything); `then` runs after the close
 * with the output read until then (e.g. to make a server write more).
 */
function runIntoClosedPipe(args: string[], env: NodeJS.ProcessEnv, closeWhen: ((read: string) => boolean) | null,
  then?: (read: string, stop: () => void) => void): Promise<Closed> {
  const child = spawn(process.execPath, [...process.execArgv, CLI_ENTRY, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let read = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')));
  let timer: NodeJS.Timeout | undefined;
  // A command that never notices would hang the test: kill it, and the assertions say so.
  // Generous: loading the CLI's TypeScript takes seconds of CPU, more on a busy 2-core box.
  const killAfter = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => child.kill('SIGKILL'), ms);
  };
  killAfter(90_000);
  const close = () => {
    child.stdout.destroy();
    then?.(read, () => {
      child.kill('SIGTERM');
      killAfter(20_000); // a clean stop takes ~0.1 s here; 20 s is a hang
    });
  };
  if (closeWhen === null) {
    close();
  } else {
    const onData = (chunk: Buffer) => {
      read += chunk.toString('utf8');
      if (!closeWhen(read)) return;
      child.stdout.off('data', onData);
      close();
    };
    child.stdout.on('data', onData);
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stderr, firstChunk: read });
  }));
}

const STACK = /\n\s+at |EPIPE|Error:/;

t.test('client commands into a closed pipe: exit 0, nothing on stderr', async (t) => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, { log: { access: false } });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  const env = { SWITCHYARD_ADMIN_URL: proxy.admin };

  // The reported case: frames keep coming every 100 ms; the reader leaves after the first.
  // (Each child costs seconds of TypeScript loading on a busy machine: one of each kind.)
  for (const args of [['status', '--watch', '0.1']]) {
    const watched = await runIntoClosedPipe(args, env, (read) => read.length > 0);
    t.match(watched.firstChunk, /every 0\.1s: switchyard status/, `${args.join(' ')}: a first frame was read`);
    t.same([watched.code, watched.signal], [0, null], `${args.join(' ')}: exit 0 when the reader leaves`);
    t.notMatch(watched.stderr, STACK, 'no stack trace');
    t.equal(watched.stderr, '', 'nothing on stderr at all');
  }

  // One-shot commands whose reader is gone before they write.
  // The client path and commander's own output (help).
  for (const args of [['status', '--json'], ['--help']]) {
    const once = await runIntoClosedPipe(args, env, null);
    t.same([once.code, once.signal], [0, null], `${args.join(' ')}: exit 0`);
    t.equal(once.stderr, '', `${args.join(' ')}: nothing on stderr`);
  }
  t.same(proxy.switchyard.control.current.weights, { blue: 100, green: 0 });
});

t.test('a failing command into a closed pipe still says why on stderr and exits 1', async (t) => {
  const run = await runIntoClosedPipe(['status', '--admin', 'http://127.0.0.1:1'], {}, null);
  t.equal(run.code, 1);
  t.match(run.stderr, /cannot reach the admin API/);
  t.notMatch(run.stderr, /\n\s+at /);
});

t.test('a serving demo goes on when its stdout reader leaves; SIGTERM stops it cleanly', async (t) => {
  let answers: number[] = [];
  const BANNER = /^\{"instances":.*\}$/m;
  const run = await runIntoClosedPipe(['demo', '--port', '0', '--admin-port', '0', '--json'], {}, (read) => BANNER.test(read), (read, stop) => {
    void (async () => {
      const { instances } = JSON.parse(BANNER.exec(read)![0]) as { instances: Array<{ proxy: string }> };
      // Each request writes an access-log line into the closed pipe.
      for (let i = 0; i < 5; i++) answers.push((await fetch(`${instances[0]!.proxy}/`).then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      }).catch(() => 0)));
      stop();
    })();
  });
  t.same(answers, [200, 200, 200, 200, 200], 'it kept serving after its stdout closed');
  t.same([run.code, run.signal], [0, null], 'and SIGTERM stops it with exit 0');
  t.notMatch(run.stderr, /\n\s+at |EPIPE/, 'no stack trace');
  answers = [];
});

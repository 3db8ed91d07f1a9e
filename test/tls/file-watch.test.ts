// watchFiles (SPEC §13 rotation): a certificate replaced in place, renamed over, or swapped
// under a Kubernetes-style `..data` symlink is reported once, after it settled; a file that is
// merely touched to the same content on another inode is reported too (its content may differ).
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { watchFiles } from '../../src/tls/file-watch.js';

const INTERVAL = 50;

function recorder() {
  const calls: string[][] = [];
  let wake: (() => void) | null = null;
  return {
    calls,
    onChange: (changed: string[]) => { calls.push(changed); wake?.(); },
    next: (ms = 3000) => new Promise<string[]>((resolve, reject) => {
      const seen = calls.length;
      const timer = setTimeout(() => reject(new Error('no change reported')), ms);
      wake = () => { if (calls.length > seen) { clearTimeout(timer); resolve(calls[calls.length - 1]!); } };
    }),
  };
}

t.test('in place, rename over, symlink swap: each reported once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plain = join(dir, 'plain.pem');
  writeFileSync(plain, 'one');
  // Kubernetes' secret volume: tls.crt -> ..data/tls.crt, ..data -> ..v1
  mkdirSync(join(dir, '..v1'));
  writeFileSync(join(dir, '..v1', 'tls.crt'), 'v1');
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
  const linked = join(dir, 'tls.crt');

  const record = recorder();
  const watch = watchFiles([plain, linked], record.onChange, INTERVAL);
  t.teardown(() => watch.stop());

  let next = record.next();
  writeFileSync(plain, 'two, longer');
  t.same(await next, [plain], 'written in place');

  next = record.next();
  writeFileSync(join(dir, 'new.pem'), 'three');
  renameSync(join(dir, 'new.pem'), plain);
  t.same(await next, [plain], 'renamed over');

  next = record.next();
  mkdirSync(join(dir, '..v2'));
  writeFileSync(join(dir, '..v2', 'tls.crt'), 'v2');
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  t.same(await next, [linked], 'symlink swapped');

  const count = record.calls.length;
  await new Promise((resolve) => setTimeout(resolve, INTERVAL * 6));
  t.equal(record.calls.length, count, 'nothing more without a change');
});

t.test('a file that goes missing and comes back is reported both times', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a.pem');
  writeFileSync(file, 'a');
  const record = recorder();
  const watch = watchFiles([file], record.onChange, INTERVAL);
  t.teardown(() => watch.stop());
  let next = record.next();
  rmSync(file);
  t.same(await next, [file], 'gone');
  next = record.next();
  writeFileSync(file, 'b');
  t.same(await next, [file], 'back');
});

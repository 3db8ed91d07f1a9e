// Key paths as error messages print them.
import t from 'tap';
import { formatKeyPath, formatProblem, pathWithin, pointerToSegments } from '../../src/config/key-path.js';

t.test('formatKeyPath', async (t) => {
  t.equal(formatKeyPath([]), '(root)');
  t.equal(formatKeyPath(['listen']), 'listen');
  t.equal(formatKeyPath(['pools', 'green', 'targets', 0]), 'pools.green.targets[0]');
  t.equal(formatKeyPath(['a', 1, 2, 'b']), 'a[1][2].b');
  t.equal(formatKeyPath([3]), '[3]');
});

t.test('pointerToSegments turns array indexes into numbers, by the document', async (t) => {
  const doc = { pools: { green: { targets: ['a', 'b'] }, '0': { targets: [] } }, 'a/b': { '~x': 1 } };
  t.strictSame(pointerToSegments('/pools/green/targets/1', doc), ['pools', 'green', 'targets', 1]);
  t.strictSame(pointerToSegments('/pools/0', doc), ['pools', '0'], 'a numeric key of a mapping stays a string');
  t.strictSame(pointerToSegments('/a~1b/~0x', doc), ['a/b', '~x'], 'JSON pointer escapes');
  t.strictSame(pointerToSegments('', doc), []);
  t.strictSame(pointerToSegments('/missing/deeper', doc), ['missing', 'deeper']);
  t.equal(formatKeyPath(pointerToSegments('/pools/green/targets/0', doc)), 'pools.green.targets[0]');
});

t.test('formatProblem and pathWithin', async (t) => {
  t.equal(formatProblem({ path: 'listen.port', message: 'expected integer' }), 'listen.port: expected integer');
  t.ok(pathWithin('a.b', 'a.b'));
  t.ok(pathWithin('a.b.c', 'a.b'));
  t.ok(pathWithin('a.b[0]', 'a.b'));
  t.notOk(pathWithin('a.bc', 'a.b'));
  t.notOk(pathWithin('a.b', 'a.b.c'));
  t.notOk(pathWithin('pools.Green', 'pools.Green.targets'));
});

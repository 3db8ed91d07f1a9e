// `${VAR}`, `${VAR:-default}` and `$${` in config string values.
import t from 'tap';
import { expandEnv } from '../../src/config/expand.js';

const missing = (path: string, name: string) =>
  `${path}: environment variable ${name} is not set (use \${${name}:-default} for an optional value)`;

t.test('${VAR} is replaced by the variable', async (t) => {
  const result = expandEnv({ a: '${HOST}', b: 'http://${HOST}:${PORT}/', c: 'x${HOST}y' }, { HOST: 'h', PORT: '80' });
  t.strictSame(result, { value: { a: 'h', b: 'http://h:80/', c: 'xhy' }, problems: [], issues: [] });
});

t.test('a variable set to the empty string without a default expands to nothing', async (t) => {
  t.strictSame(expandEnv({ a: '[${EMPTY}]' }, { EMPTY: '' }), { value: { a: '[]' }, problems: [], issues: [] });
});

t.test('${VAR:-default}', async (t) => {
  const doc = { a: '${V:-fallback}' };
  t.strictSame(expandEnv(doc, {}).value, { a: 'fallback' }, 'unset → default');
  t.strictSame(expandEnv(doc, { V: '' }).value, { a: 'fallback' }, 'empty → default');
  t.strictSame(expandEnv(doc, { V: 'set' }).value, { a: 'set' }, 'set → value');
  t.strictSame(expandEnv({ a: '${V:-}' }, {}).value, { a: '' }, 'an empty default');
  t.strictSame(expandEnv({ a: '${URL:-redis://127.0.0.1:6379}' }, {}).value, { a: 'redis://127.0.0.1:6379' },
    'a default may contain colons and slashes');
  t.strictSame(expandEnv({ a: '${A:-1}-${B:-2}' }, { B: 'b' }).value, { a: '1-b' });
  t.strictSame(expandEnv(doc, {}).problems, []);
});

t.test('$${ is a literal ${', async (t) => {
  t.strictSame(expandEnv({ a: '$${NOT_SET}', b: 'cost: $${', c: '$${X} is ${X}' }, { X: 'x' }), {
    value: { a: '${NOT_SET}', b: 'cost: ${', c: '${X} is x' },
    problems: [],
    issues: [],
  });
});

t.test('text that is not a reference is left alone', async (t) => {
  const doc = { a: '$HOME', b: '$$', c: 'price $5', d: '${1BAD}', e: '${}', f: '{x}' };
  t.strictSame(expandEnv(doc, { HOME: '/root' }), { value: doc, problems: [], issues: [] });
});

t.test('an unset variable without default is a problem naming key path and variable', async (t) => {
  const result = expandEnv({
    listen: { port: '${PORT}' },
    pools: { blue: { targets: ['http://127.0.0.1:3001', 'http://${H1}:${P1}'] } },
  }, {});
  t.strictSame(result.problems, [
    missing('listen.port', 'PORT'),
    missing('pools.blue.targets[1]', 'H1'),
    missing('pools.blue.targets[1]', 'P1'),
  ]);
  t.strictSame(result.issues, [
    { path: 'listen.port', message: 'environment variable PORT is not set (use ${PORT:-default} for an optional value)' },
    { path: 'pools.blue.targets[1]', message: 'environment variable H1 is not set (use ${H1:-default} for an optional value)' },
    { path: 'pools.blue.targets[1]', message: 'environment variable P1 is not set (use ${P1:-default} for an optional value)' },
  ]);
  t.strictSame(result.value, {
    listen: { port: '' },
    pools: { blue: { targets: ['http://127.0.0.1:3001', 'http://:'] } },
  }, 'the missing variable expands to nothing');
});

t.test('a string at the root and arrays of arrays get readable paths', async (t) => {
  t.strictSame(expandEnv('${X}', {}).problems, [missing('(root)', 'X')]);
  t.strictSame(expandEnv({ a: [['ok', '${X}']] }, {}).problems, [missing('a[0][1]', 'X')]);
});

t.test('an environment value is never expanded again, nor changes the structure', async (t) => {
  t.strictSame(expandEnv({ a: '${A}' }, { A: '${B}', B: 'nope' }).value, { a: '${B}' });
  t.strictSame(expandEnv({ a: '${A}' }, { A: '{ b: 1 }\nc: [2]' }).value, { a: '{ b: 1 }\nc: [2]' });
});

t.test('only string values are expanded: keys and other types are kept', async (t) => {
  const doc = { '${KEY}': 1, n: 2, b: true, z: null, list: [1, false, null] };
  t.strictSame(expandEnv(doc, { KEY: 'k' }), { value: doc, problems: [], issues: [] });
});

t.test('the input is not modified and the result is a copy', async (t) => {
  const doc = { a: { b: ['${X}'] } };
  const result = expandEnv(doc, { X: 'x' });
  t.strictSame(doc, { a: { b: ['${X}'] } });
  t.strictSame(result.value, { a: { b: ['x'] } });
  t.not((result.value as typeof doc).a, doc.a);
});

t.test('a __proto__ key stays an own key', async (t) => {
  const doc = JSON.parse('{"__proto__": {"x": "${X}"}}') as Record<string, unknown>;
  const value = expandEnv(doc, { X: 'y' }).value as Record<string, unknown>;
  t.ok(Object.hasOwn(value, '__proto__'));
  t.equal(Object.getPrototypeOf(value), Object.prototype);
  t.strictSame(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { x: 'y' });
});

// Problem order: by where the key is in the file (or the object), not by which check found it.
import t from 'tap';
import { parseDocument } from 'yaml';
import { inFileOrder, valueKeyOrder, yamlKeyOrder } from '../../src/config/file-order.js';
import { schemaAt, unknownKeyMessage } from '../../src/config/known-keys.js';
import { ConfigSchema } from '../../src/config/schema.js';

const problem = (path: string, message = 'x') => ({ path, message });

t.test('yamlKeyOrder: the offset of every key and item, integer-like keys where they are written', async (t) => {
  const text = 'b: 1\n7: { c: [x, { d: 2 }] }\na: 3\n';
  const order = yamlKeyOrder(parseDocument(text));
  t.equal(order.get('(root)'), -1);
  t.equal(order.get('b'), text.indexOf('b:'));
  t.equal(order.get('7'), text.indexOf('7:'));
  t.equal(order.get('7.c'), text.indexOf('c:'));
  t.equal(order.get('7.c[0]'), text.indexOf('x'));
  t.equal(order.get('7.c[1]'), text.indexOf('{ d'));
  t.equal(order.get('7.c[1].d'), text.indexOf('d:'));
  t.equal(order.get('a'), text.indexOf('a:'));
  t.ok(order.get('7')! < order.get('a')!, 'toJS() would put "7" first; the file does not');
});

t.test('yamlKeyOrder: empty values, an empty document and a scalar document', async (t) => {
  const order = yamlKeyOrder(parseDocument('a:\nb:\n  - \n'));
  t.strictSame([...order.keys()], ['(root)', 'a', 'b', 'b[0]']);
  t.strictSame([...yamlKeyOrder(parseDocument('')).keys()], ['(root)']);
  t.strictSame([...yamlKeyOrder(parseDocument('just text')).keys()], ['(root)']);
});

t.test('valueKeyOrder: depth first in the object\'s own key order', async (t) => {
  const order = valueKeyOrder({ pools: { blue: { targets: ['a', 'b'] } }, listen: { port: 1 } });
  t.strictSame([...order.entries()], [
    ['(root)', -1], ['pools', 1], ['pools.blue', 2], ['pools.blue.targets', 3], ['pools.blue.targets[0]', 4],
    ['pools.blue.targets[1]', 5], ['listen', 6], ['listen.port', 7],
  ]);
  t.strictSame([...valueKeyOrder(null).keys()], ['(root)']);
});

t.test('inFileOrder sorts by key rank; a missing key ranks at the end of its nearest present ancestor', async (t) => {
  const order = valueKeyOrder({ listen: { port: 'x' }, admin: { host: '0.0.0.0' }, pools: { blue: {} } });
  const sorted = inFileOrder([
    problem('pools.blue.targets', 'required'), // missing: at the end of pools.blue
    problem('admin.token', 'required'), // missing: at the end of admin, after admin.host
    problem('admin.host'),
    problem('listen.port'),
    problem('pools', 'second problem of pools'),
    problem('state.url', 'not in the object at all'), // the end of the document
    problem('pools', 'third problem of pools'),
  ], order);
  t.strictSame(sorted.map((p) => `${p.path} ${p.message}`), [
    'listen.port x',
    'admin.host x',
    'admin.token required',
    'pools second problem of pools',
    'pools third problem of pools',
    'pools.blue.targets required',
    'state.url not in the object at all',
  ], 'stable: problems of one key keep the order they were found in');
  t.strictSame(inFileOrder([], order), []);
});

t.test('inFileOrder: a prefix that is not a key boundary is not an ancestor', async (t) => {
  const order = valueKeyOrder({ pool: 1, pools: { b: 1 } });
  t.strictSame(inFileOrder([problem('pools.b.x'), problem('pool')], order).map((p) => p.path), ['pool', 'pools.b.x']);
});

t.test('schemaAt follows properties, records and arrays', async (t) => {
  t.equal(schemaAt(ConfigSchema, []), ConfigSchema);
  t.equal(schemaAt(ConfigSchema, ['limits'])?.type, 'object');
  t.ok(schemaAt(ConfigSchema, ['pools', 'any-name', 'healthCheck'])?.properties, 'a record entry follows its item schema');
  t.equal(schemaAt(ConfigSchema, ['pools', 'blue', 'targets', 0])?.type, 'string');
  t.equal(schemaAt(ConfigSchema, ['pools', 'blue', 'targets', 'x']), undefined, 'an array has no named keys');
  t.equal(schemaAt(ConfigSchema, ['listen', 'port', 'deeper']), undefined, 'a scalar has no keys');
  t.equal(schemaAt(ConfigSchema, ['state', 'store', 'x']), undefined, 'a union has no single answer');
  t.equal(schemaAt(ConfigSchema, ['nope', 'x']), undefined);
});

t.test('unknownKeyMessage offers the closest sibling key of the schema', async (t) => {
  t.equal(unknownKeyMessage(ConfigSchema, ['helthCheck']), 'unknown key (did you mean healthCheck?)');
  t.equal(unknownKeyMessage(ConfigSchema, ['limits', 'maxHeaderByte']), 'unknown key (did you mean maxHeaderBytes?)');
  t.equal(unknownKeyMessage(ConfigSchema, ['pools', 'blue', 'target']), 'unknown key (did you mean targets?)');
  t.equal(unknownKeyMessage(ConfigSchema, ['pools', 'blue', 'healthCheck', 'intervalms']), 'unknown key (did you mean intervalMs?)');
  t.equal(unknownKeyMessage(ConfigSchema, ['state', 'opTimeout']), 'unknown key (did you mean opTimeoutMs?)');
  t.equal(unknownKeyMessage(ConfigSchema, ['foo']), 'unknown key');
  t.equal(unknownKeyMessage(ConfigSchema, ['listen', 'port', 'x']), 'unknown key', 'no schema there: no guess');
  t.equal(unknownKeyMessage(ConfigSchema, [3]), 'unknown key');
});

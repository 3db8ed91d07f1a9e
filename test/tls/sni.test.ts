// SniTable (src/tls/sni.ts): exact SAN names before wildcards, a wildcard covers one label
// (RFC 6125 §6.4.3), case and one trailing dot do not matter, the first pair keeps a name two
// pairs claim, and nothing a client can send makes it throw.
import t from 'tap';
import { SniTable } from '../../src/tls/sni.js';

const table = new SniTable([
  { names: ['example.com', '*.example.com'], value: 'first' },
  { names: ['api.example.com', 'Example.COM', '*.internal.test'], value: 'second' },
  { names: ['*.example.com', 'other.test'], value: 'third' },
]);

t.test('exact, then wildcard of one label', async (t) => {
  t.equal(table.lookup('example.com'), 'first');
  t.equal(table.lookup('api.example.com'), 'second', 'an exact name beats a wildcard of another pair');
  t.equal(table.lookup('www.example.com'), 'first', 'the first pair keeps a wildcard two pairs claim');
  t.equal(table.lookup('a.b.example.com'), undefined, 'a wildcard covers one label, not two');
  t.equal(table.lookup('x.internal.test'), 'second');
  t.equal(table.lookup('internal.test'), undefined, 'nor the bare domain');
  t.equal(table.lookup('other.test'), 'third');
});

t.test('case and a trailing dot', async (t) => {
  t.equal(table.lookup('EXAMPLE.com'), 'first', 'first pair keeps a name a later one writes in capitals');
  t.equal(table.lookup('WWW.Example.Com'), 'first');
  t.equal(table.lookup('api.example.com.'), 'second');
});

t.test('odd input finds nothing and never throws', async (t) => {
  for (const input of ['', '.', '..', '.example.com', 'example', '*', '*.', 'x'.repeat(300), `${'a.'.repeat(126)}example.com`,
    '\u0000', 'a\u0000.example.com', '\uffff.example.com', 'é.example.org', undefined, null, 42, {}, []]) {
    t.doesNotThrow(() => table.lookup(input), `${JSON.stringify(input)?.slice(0, 30)}`);
  }
  t.equal(table.lookup(''), undefined);
  t.equal(table.lookup('.example.com'), undefined, 'an empty first label is no label');
  t.equal(table.lookup('x'.repeat(300)), undefined, 'longer than any DNS name');
  t.equal(table.lookup(undefined), undefined);
  t.equal(table.lookup('*.example.com'), undefined, 'a literal * is no host name (default pair, not the wildcard one)');
  t.equal(table.lookup('www.example.com\u0000.evil'), undefined, 'a NUL is no host name: not matched on the part before it');
  t.equal(table.lookup('a b.example.com'), undefined);
  t.equal(table.lookup('a..example.com'), undefined);
});

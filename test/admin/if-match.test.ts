import t from 'tap';
import { etag, parseIfMatch } from '../../src/admin/if-match.js';

t.test('no precondition', async (t) => {
  t.equal(parseIfMatch(undefined), undefined);
  t.equal(parseIfMatch(''), undefined);
  t.equal(parseIfMatch('   '), undefined);
  t.equal(parseIfMatch('*'), undefined);
  t.equal(parseIfMatch(' * '), undefined);
});

t.test('revisions: quoted, bare, weak', async (t) => {
  t.equal(parseIfMatch('"7"'), 7);
  t.equal(parseIfMatch('7'), 7);
  t.equal(parseIfMatch('W/"7"'), 7);
  t.equal(parseIfMatch(' "12" '), 12);
  t.equal(parseIfMatch(['"3"']), 3);
});

t.test('values naming no revision never match', async (t) => {
  for (const value of ['"abc"', 'abc', '"-1"', '"1.5"', '"1", "2"', '"', 'w/"1"x', '""']) {
    t.ok(Number.isNaN(parseIfMatch(value)), JSON.stringify(value));
  }
  t.ok(Number.isNaN(parseIfMatch(['"1"', '"2"'])));
});

t.test('etag round-trips', async (t) => {
  t.equal(etag(42), '"42"');
  t.equal(parseIfMatch(etag(42)), 42);
});

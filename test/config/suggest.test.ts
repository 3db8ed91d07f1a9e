// "Did you mean": the edit distance and the typo threshold, as pure functions.
import t from 'tap';
import { closestNames, didYouMean, editDistance, maxTypoDistance } from '../../src/config/suggest.js';

t.test('editDistance: insertions, deletions, substitutions and adjacent swaps each cost 1', async (t) => {
  const cases: Array<[string, string, number]> = [
    ['', '', 0],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['helthCheck', 'healthCheck', 1], // one letter missing
    ['maxHeaderByte', 'maxHeaderBytes', 1],
    ['listenn', 'listen', 1], // one letter too many
    ['pirt', 'port', 1], // one letter wrong
    ['prot', 'port', 1], // two letters swapped
    ['healthcheck', 'healthCheck', 0], // case does not count
    ['STATE', 'state', 0],
    ['kitten', 'sitting', 3],
    ['foo', 'log', 2],
    ['ca', 'abc', 3], // optimal string alignment: a swapped pair is not edited again
  ];
  for (const [a, b, distance] of cases) {
    t.equal(editDistance(a, b), distance, `${a} → ${b}`);
    t.equal(editDistance(b, a), distance, `${b} → ${a} (symmetric)`);
  }
});

t.test('maxTypoDistance grows with the name, from 1 to at most 3', async (t) => {
  t.strictSame([1, 3, 5, 6, 8, 9, 14, 40].map(maxTypoDistance), [1, 1, 1, 2, 2, 3, 3, 3]);
});

t.test('closestNames: the nearest within the threshold, ties in the given order', async (t) => {
  const root = ['listen', 'preview', 'admin', 'pools', 'routing', 'healthCheck', 'passive', 'retries', 'timeouts', 'limits', 'drain',
    'shutdown', 'state', 'log'];
  t.strictSame(closestNames('helthCheck', root), ['healthCheck']);
  t.strictSame(closestNames('lisen', root), ['listen']);
  t.strictSame(closestNames('timeout', root), ['timeouts']);
  t.strictSame(closestNames('healthcheck', root), ['healthCheck'], 'a case slip is always offered');
  t.strictSame(closestNames('foo', root), [], 'too far from log for a 3-letter name');
  t.strictSame(closestNames('statistics', root), []);
  t.strictSame(closestNames('host', ['port']), [], 'two edits in four letters is another word');
  t.strictSame(closestNames('pool', ['pools', 'poll']), ['pools', 'poll'], 'ties are all offered');
  t.strictSame(closestNames('pools', ['pools']), [], 'a known name is not a typo of itself');
  t.strictSame(closestNames('x', []), []);
});

t.test('didYouMean formats the hint', async (t) => {
  t.equal(didYouMean('helthCheck', ['healthCheck', 'passive']), ' (did you mean healthCheck?)');
  t.equal(didYouMean('pool', ['pools', 'poll']), ' (did you mean pools or poll?)');
  t.equal(didYouMean('foo', ['log']), '');
});

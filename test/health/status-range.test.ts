// Which upstream statuses count as a passing health check.
import t from 'tap';
import { parseStatusRanges, statusInRanges } from '../../src/health/status-range.js';

t.test('valid lists', async (t) => {
  t.strictSame(parseStatusRanges('200-399'), [[200, 399]]);
  t.strictSame(parseStatusRanges('200,204'), [[200, 200], [204, 204]]);
  t.strictSame(parseStatusRanges('200-299,404'), [[200, 299], [404, 404]]);
  t.strictSame(parseStatusRanges('200'), [[200, 200]]);
  t.strictSame(parseStatusRanges(' 200 - 299 , 404 '), [[200, 299], [404, 404]], 'spaces are allowed');
  t.strictSame(parseStatusRanges('100-599'), [[100, 599]], 'the whole valid range');
  t.strictSame(parseStatusRanges('204-204'), [[204, 204]]);
});

t.test('invalid lists', async (t) => {
  for (const text of ['abc', '600', '399-200', '', '200,', ',200', '99', '099', '2000', '200-600', '200-', '-399',
    '200-299-399', '200;204', '2xx', '200 204']) {
    t.equal(parseStatusRanges(text), null, JSON.stringify(text));
  }
});

t.test('statusInRanges', async (t) => {
  const ranges = parseStatusRanges('200-299,404')!;
  for (const status of [200, 250, 299, 404]) t.ok(statusInRanges(status, ranges), `${status} passes`);
  for (const status of [199, 300, 403, 405, 500]) t.notOk(statusInRanges(status, ranges), `${status} fails`);
  t.notOk(statusInRanges(200, []), 'an empty list accepts nothing');
  const standard = parseStatusRanges('200-399')!;
  t.ok(statusInRanges(301, standard));
  t.notOk(statusInRanges(400, standard));
});

import t, { type Test } from 'tap';
import { bearerChecker, tokenId } from '../../src/admin/auth.js';
import { SwitchyardError } from '../../src/errors.js';

const refuses = (t: Test, check: (header: string | undefined) => void, header: string | undefined) => {
  try {
    check(header);
    t.fail(`accepted ${JSON.stringify(header)}`);
  } catch (err) {
    t.type(err, SwitchyardError);
    t.match(err, { code: 'UNAUTHORIZED', status: 401 }, JSON.stringify(header));
  }
};

t.test('accepts the right bearer token', async (t) => {
  const check = bearerChecker('s3cret');
  t.doesNotThrow(() => check('Bearer s3cret'));
  t.doesNotThrow(() => check('bearer s3cret'), 'scheme is case-insensitive');
  t.doesNotThrow(() => check('Bearer   s3cret  '), 'extra spaces');
});

t.test('refuses anything else', async (t) => {
  const check = bearerChecker('s3cret');
  for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Bearer wrong', 'Bearer s3cret2', 'Bearer s3cre', 'Bearer S3CRET',
    's3cret', 'Basic s3cret', 'Token s3cret', 'Bearer s3cret extra', 'Bearers3cret']) {
    refuses(t, check, header);
  }
});

t.test('tokenId is short, stable and does not reveal the token', async (t) => {
  const id = tokenId('s3cret');
  t.match(id, /^token:[0-9a-f]{8}$/);
  t.equal(tokenId('s3cret'), id);
  t.not(tokenId('other'), id);
  t.notMatch(id, /s3cret/);
});

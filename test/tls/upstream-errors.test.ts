// The upstream error classification for TLS failures (pure, no sockets): a certificate the
// proxy refused is the upstream's fault, a connection never made (retried on another target
// whatever the method), and a 502; OpenSSL's own failures (an alert, a broken record) are the
// upstream's fault too, but may come after the request was written: not retried as unsent.
import t from 'tap';
import { faultOf, mayRetry, neverReachedUpstream, statusForUpstreamError } from '../../src/proxy/upstream-errors.js';

const err = (code: string): unknown => Object.assign(new Error('x'), { code });

const REFUSALS = ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'INVALID_CA', 'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED', 'HOSTNAME_MISMATCH', 'ERROR_IN_CERT_NOT_AFTER_FIELD', 'CRL_HAS_EXPIRED'];

t.test('a refused upstream certificate: upstream fault, never sent, retried, 502', async (t) => {
  for (const code of REFUSALS) {
    t.equal(faultOf(err(code)), 'upstream', `${code}: the upstream's fault`);
    t.ok(neverReachedUpstream(err(code)), `${code}: nothing was sent`);
    t.ok(mayRetry({ err: err(code), method: 'POST', bodyStreamed: false }), `${code}: a POST may go to another target`);
    t.notOk(mayRetry({ err: err(code), method: 'GET', bodyStreamed: true }), `${code}: never once body bytes were read`);
    t.equal(statusForUpstreamError(err(code)), 502, `${code}: 502`);
  }
});

t.test('OpenSSL alerts and record errors: upstream fault, 502, not taken for unsent', async (t) => {
  for (const code of ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'ERR_SSL_WRONG_VERSION_NUMBER',
    'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC', 'ERR_TLS_HANDSHAKE_TIMEOUT']) {
    t.equal(faultOf(err(code)), 'upstream', code);
    t.notOk(neverReachedUpstream(err(code)), code);
    t.notOk(mayRetry({ err: err(code), method: 'POST', bodyStreamed: false }), `${code}: a POST is not replayed`);
    t.equal(statusForUpstreamError(err(code)), 502, code);
  }
});

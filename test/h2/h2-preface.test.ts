import t from 'tap';
import { H2_PREFACE, sniffPreface } from '../../src/proxy/h2-preface.js';

t.test('the h2c preface, whole or in pieces, against HTTP/1.1 request lines', async (t) => {
  t.equal(sniffPreface(H2_PREFACE), 'h2');
  t.equal(sniffPreface(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])])), 'h2', 'with the SETTINGS frame behind it');
  for (let i = 1; i < H2_PREFACE.length; i++) t.equal(sniffPreface(H2_PREFACE.subarray(0, i)), 'more', `first ${i} bytes`);
  t.equal(sniffPreface(Buffer.alloc(0)), 'more');
  t.equal(sniffPreface(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  t.equal(sniffPreface(Buffer.from('P')), 'more', 'could be PRI or POST/PUT/PATCH');
  t.equal(sniffPreface(Buffer.from('POST / HTTP/1.1\r\n')), 'http1');
  t.equal(sniffPreface(Buffer.from('PRI / HTTP/1.1\r\n')), 'http1', 'a PRI method that is not the preface');
  t.equal(sniffPreface(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX')), 'http1', 'wrong second half');
});

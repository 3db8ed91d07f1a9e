// Certificates made at test time with the `openssl` command (Debian's package; `.ci/run`
// installs it): a private CA and leaf pairs signed by it, in a temporary folder removed at
// teardown. No key material is ever committed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export interface LeafPair {
  /** PEM file paths, and their contents. */
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCa {
  dir: string;
  caFile: string;
  ca: string;
  /** A leaf for these DNS names and IP addresses (SAN), signed by the CA, valid for `days` (default 2). */
  leaf(name: string, sans: readonly string[], options?: { days?: number }): LeafPair;
}

function openssl(args: readonly string[], cwd: string): void {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${run.stderr || run.error?.message}`);
}

/** A CA in a fresh temporary folder (removed at `t`'s teardown). */
export function testCa(t: Test, subject = 'Switchyard Test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-days', '2', '-subj', `/CN=${subject}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], dir);
  let serial = 1;
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    leaf(name, sans, { days = 2 } = {}) {
      const san = sans.map((entry) => (/^[\d.]+$|:/.test(entry) ? `IP:${entry}` : `DNS:${entry}`)).join(',');
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`,
        '-subj', `/CN=${sans[0] ?? name}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', String(days),
        '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
      const certFile = join(dir, `${name}.pem`);
      const keyFile = join(dir, `${name}.key`);
      return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    },
  };
}

/**
 * The files a listener is configured with (`live.crt`, `live.key` in the CA's folder), holding
 * a copy of `leaf`: a test rotates them by copying another pair over.
 */
export function livePair(ca: TestCa, leaf: LeafPair): { cert: string; key: string } {
  const live = { cert: join(ca.dir, 'live.crt'), key: join(ca.dir, 'live.key') };
  copyFileSync(leaf.certFile, live.cert);
  copyFileSync(leaf.keyFile, live.key);
  return live;
}

// Reading PEM files (SPEC §13): a certificate pair for the edge listener, a CA bundle and a
// client pair for upstream TLS. Every refusal names the file and why, so the config check,
// the certificate store (at start, on change) and the upstream clients say the same thing.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A pair that loaded: PEM bytes for a SecureContext, and what GET /certificates shows. */
export interface LoadedPair {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** DNS names of the leaf's subjectAltName, lower-case (`*.example.com` kept as written); the CN when it has none. */
  names: string[];
  notAfter: Date;
  notBefore: Date;
  /** Hex, upper-case, as openssl prints it. */
  serial: string;
  fingerprint256: string;
}

export interface PemProblem {
  /** Which of the two files the problem is about. */
  file: 'cert' | 'key';
  message: string;
}

export type PairResult = { ok: true; pair: LoadedPair } | { ok: false; problems: PemProblem[] };

/** Reads a file, or says why not (`file not found (path)`, `unreadable (path): reason`). */
export function readPem(path: string): { ok: true; bytes: Buffer } | { ok: false; message: string } {
  try {
    return { ok: true, bytes: readFileSync(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, message: code === 'ENOENT' ? `file not found (${path})` : `unreadable (${path}): ${(error as Error).message}` };
  }
}

/** The first certificate of a PEM file (the leaf of a chain), or the reason it is not one. */
export function parseCertificate(bytes: Buffer, path: string): X509Certificate | string {
  if (!bytes.includes('-----BEGIN CERTIFICATE-----')) return `not a PEM certificate (${path})`;
  try {
    return new X509Certificate(bytes);
  } catch (error) {
    return `not a valid PEM certificate (${path}): ${(error as Error).message}`;
  }
}

export function parsePrivateKey(bytes: Buffer, path: string): KeyObject | string {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(bytes.toString('latin1'))) return `not a PEM private key (${path})`;
  try {
    return createPrivateKey(bytes);
  } catch (error) {
    return `not a valid PEM private key (${path}): ${(error as Error).message}`;
  }
}

/**
 * Loads a certificate and its key, refusing what would fail handshakes: a missing or garbled
 * file, a key that is not the certificate's, a certificate already expired (or not yet valid)
 * at `now`.
 */
export function loadPair(certFile: string, keyFile: string, now = Date.now()): PairResult {
  return parsePair(readPem(certFile), readPem(keyFile), certFile, keyFile, now);
}

/** What a file read gave: its bytes, or why there are none. */
export type PemBytes = ReturnType<typeof readPem>;

/** `loadPair` on bytes already read (a worker gets its primary's, SPEC §15); the paths name them in problems. */
export function parsePair(certBytes: PemBytes, keyBytes: PemBytes, certFile: string, keyFile: string, now = Date.now()): PairResult {
  const problems: PemProblem[] = [];
  if (!certBytes.ok) problems.push({ file: 'cert', message: certBytes.message });
  if (!keyBytes.ok) problems.push({ file: 'key', message: keyBytes.message });
  const cert = certBytes.ok ? parseCertificate(certBytes.bytes, certFile) : null;
  const key = keyBytes.ok ? parsePrivateKey(keyBytes.bytes, keyFile) : null;
  if (typeof cert === 'string') problems.push({ file: 'cert', message: cert });
  if (typeof key === 'string') problems.push({ file: 'key', message: key });
  if (cert === null || key === null || typeof cert === 'string' || typeof key === 'string') return { ok: false, problems };
  if (!cert.checkPrivateKey(key)) problems.push({ file: 'key', message: `does not match the certificate in ${certFile}` });
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter.getTime() <= now) problems.push({ file: 'cert', message: `expired on ${notAfter.toISOString()} (${certFile})` });
  else if (notBefore.getTime() > now) problems.push({ file: 'cert', message: `not valid before ${notBefore.toISOString()} (${certFile})` });
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    pair: {
      certFile, keyFile, cert: (certBytes as { bytes: Buffer }).bytes, key: (keyBytes as { bytes: Buffer }).bytes,
      names: certificateNames(cert), notAfter, notBefore, serial: cert.serialNumber.toUpperCase(), fingerprint256: cert.fingerprint256,
    },
  };
}

/** A CA bundle: readable, with at least one certificate that parses. Returns the bytes or the reason. */
export function loadCa(path: string): { ok: true; bytes: Buffer } | { ok: false; message: string } {
  const bytes = readPem(path);
  if (!bytes.ok) return bytes;
  const cert = parseCertificate(bytes.bytes, path);
  return typeof cert === 'string' ? { ok: false, message: cert } : bytes;
}

/**
 * The DNS names a certificate serves, from its subjectAltName (RFC 6125 §6.4.4: the CN is
 * used only when there is no SAN DNS name at all), lower-cased.
 */
export function certificateNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  const names = san.split(/,\s*/).filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

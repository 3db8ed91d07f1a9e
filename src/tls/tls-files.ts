// The config check's file stage (SPEC §13): every certificate, key and CA the config names
// must exist and parse, and each pair must match and be current — reported with its key path
// (`tls.certificates[0].key: does not match …`), like every other config problem. It runs
// beside the other stages (every problem at once), so it reads the document defensively: a
// key of the wrong shape was reported by the schema and is skipped here.
import type { KeyedProblem } from '../config/key-path.js';
import { loadCa, loadPair } from './pem.js';

const text = (value: unknown): value is string => typeof value === 'string' && value !== '';
const record = (value: unknown): Record<string, unknown> | undefined =>
  (value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined);

export function tlsFileIssues(config: unknown, now = Date.now()): KeyedProblem[] {
  const problems: KeyedProblem[] = [];
  const pairProblems = (path: string, cert: unknown, key: unknown) => {
    if (!text(cert) || !text(key)) return;
    const result = loadPair(cert, key, now);
    if (!result.ok) for (const problem of result.problems) problems.push({ path: `${path}.${problem.file}`, message: problem.message });
  };
  const certificates = record(record(config)?.tls)?.certificates;
  if (Array.isArray(certificates)) {
    certificates.forEach((pair, index) => pairProblems(`tls.certificates[${index}]`, record(pair)?.cert, record(pair)?.key));
  }
  for (const [name, pool] of Object.entries(record(record(config)?.pools) ?? {})) {
    const tls = record(record(pool)?.tls);
    if (tls === undefined) continue;
    if (text(tls.ca)) {
      const ca = loadCa(tls.ca);
      if (!ca.ok) problems.push({ path: `pools.${name}.tls.ca`, message: ca.message });
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      problems.push({ path: `pools.${name}.tls.${tls.cert === undefined ? 'cert' : 'key'}`, message: 'cert and key go together (a client certificate for mTLS)' });
    } else {
      pairProblems(`pools.${name}.tls`, tls.cert, tls.key);
    }
  }
  return problems;
}

// The config check's file stage (SPEC §13): every certificate, key and CA the config names
// must exist and parse, and each pair must match and be current — reported with its key path
// (`tls.certificates[0].key: does not match …`), like every other config problem.
import type { KeyedProblem } from '../config/key-path.js';
import type { RawConfig } from '../config/schema.js';
import { loadCa, loadPair } from './pem.js';

export function tlsFileIssues(config: RawConfig, now = Date.now()): KeyedProblem[] {
  const problems: KeyedProblem[] = [];
  (config.tls?.certificates ?? []).forEach((pair, index) => {
    const result = loadPair(pair.cert, pair.key, now);
    if (!result.ok) for (const problem of result.problems) problems.push({ path: `tls.certificates[${index}].${problem.file}`, message: problem.message });
  });
  for (const [name, pool] of Object.entries(config.pools ?? {})) {
    const tls = pool.tls;
    if (tls === undefined) continue;
    if (tls.ca !== undefined) {
      const ca = loadCa(tls.ca);
      if (!ca.ok) problems.push({ path: `pools.${name}.tls.ca`, message: ca.message });
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      problems.push({ path: `pools.${name}.tls.${tls.cert === undefined ? 'cert' : 'key'}`, message: 'cert and key go together (a client certificate for mTLS)' });
    } else if (tls.cert !== undefined && tls.key !== undefined) {
      const result = loadPair(tls.cert, tls.key, now);
      if (!result.ok) for (const problem of result.problems) problems.push({ path: `pools.${name}.tls.${problem.file}`, message: problem.message });
    }
  }
  return problems;
}

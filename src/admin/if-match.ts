// `If-Match: "<revision>"` (also bare or weak) → the revision a change is based on.
// `*` or no header → undefined (no precondition). A value naming no revision can never
// match, so it is NaN and the change answers 412.

export function parseIfMatch(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const text = (Array.isArray(header) ? header.join(',') : header).trim();
  if (text === '' || text === '*') return undefined;
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(text);
  return match === null ? Number.NaN : Number(match[1]);
}

export const etag = (revision: number): string => `"${revision}"`;

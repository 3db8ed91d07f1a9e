// "Did you mean ...?" for a mistyped key: the closest known names by edit distance.

/**
 * Optimal string alignment distance (Levenshtein plus the swap of two adjacent letters,
 * so `prot` → `port` is 1), compared case-insensitively: `healthcheck` is 0 from `healthCheck`.
 */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  // Three rows are enough: the transposition step looks two rows back.
  let before = new Array<number>(y.length + 1).fill(0);
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  let current = new Array<number>(y.length + 1).fill(0);
  for (let i = 1; i <= x.length; i++) {
    current[0] = i;
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[y.length]!;
}

/**
 * How many edits still read as a typo of a name this long: 1 up to 5 letters, 2 up to 8,
 * then 3 (about a third of the name, as git's and commander's suggestions allow), so `foo`
 * is not offered `log` and `host` is not offered `port`.
 */
export function maxTypoDistance(length: number): number {
  return Math.min(3, Math.max(1, Math.floor(length / 3)));
}

/** The candidates closest to `word` within the typo distance (ties all returned, in the given order); [] when none is close. */
export function closestNames(word: string, candidates: Iterable<string>): string[] {
  let best = Infinity;
  let found: string[] = [];
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = editDistance(word, candidate);
    if (distance > maxTypoDistance(Math.max(word.length, candidate.length)) || distance > best) continue;
    if (distance < best) [best, found] = [distance, []];
    found.push(candidate);
  }
  return found;
}

/** ` (did you mean a?)`, ` (did you mean a or b?)`, or '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const names = closestNames(word, candidates);
  return names.length === 0 ? '' : ` (did you mean ${names.join(' or ')}?)`;
}

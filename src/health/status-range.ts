// "200-399", "200,204", "200-299,404": which upstream statuses count as a passing check.

export type StatusRanges = ReadonlyArray<readonly [number, number]>;

export function parseStatusRanges(text: string): StatusRanges | null {
  const ranges: Array<[number, number]> = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(part);
    if (match === null) return null;
    const low = Number(match[1]);
    const high = match[2] === undefined ? low : Number(match[2]);
    if (low < 100 || high > 599 || low > high) return null;
    ranges.push([low, high]);
  }
  return ranges;
}

export function statusInRanges(status: number, ranges: StatusRanges): boolean {
  for (const [low, high] of ranges) if (status >= low && status <= high) return true;
  return false;
}

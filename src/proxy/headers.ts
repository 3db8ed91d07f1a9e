// Header rewriting for both directions. Pure functions over Node's flat raw-header arrays
// ([name, value, name, value, ...]), which keep duplicates and the sender's casing.

/** RFC 9110 §7.6.1 hop-by-hop headers, plus `expect` (we answer 100-continue ourselves). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
]);

/** Headers this proxy sets itself on the way upstream. */
const REPLACED_UPSTREAM = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-request-id']);

export const VIA = '1.1 switchyard';

export interface ForwardContext {
  requestId: string;
  clientIp: string;
  proto: 'http' | 'https';
  host: string | undefined;
  /** A request header (lower-case name) meant for the proxy only, never forwarded: routing.overrideHeader. */
  drop?: string | undefined;
}

/** Names listed in `Connection: a, b` are hop-by-hop for this message only. */
function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) {
        const name = token.trim().toLowerCase();
        if (name !== '') (tokens ??= new Set()).add(name);
      }
    }
  }
  return tokens;
}

function isHopByHop(lower: string, listed: Set<string> | null): boolean {
  return HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower));
}

export function upstreamRequestHeaders(raw: readonly string[], context: ForwardContext): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let via: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower, listed) || REPLACED_UPSTREAM.has(lower) || lower === context.drop) continue;
    const value = raw[i + 1]!;
    if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else if (lower === 'via') via = via === undefined ? value : `${via}, ${value}`;
    else out.push(name, value);
  }
  out.push(
    'x-forwarded-for', forwardedFor === undefined ? context.clientIp : `${forwardedFor}, ${context.clientIp}`,
    'x-forwarded-proto', context.proto,
    'via', via === undefined ? VIA : `${via}, ${VIA}`,
    'x-request-id', context.requestId,
  );
  if (context.host !== undefined) out.push('x-forwarded-host', context.host);
  return out;
}

/** Upstream response headers as strings, hop-by-hop removed; `extra` pairs appended. */
export function downstreamResponseHeaders(raw: readonly Buffer[], extra: readonly string[] | null): string[] {
  const strings: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) strings[i] = raw[i]!.toString('latin1');
  const listed = connectionTokens(strings);
  const out: string[] = [];
  for (let i = 0; i < strings.length; i += 2) {
    const name = strings[i]!;
    if (isHopByHop(name.toLowerCase(), listed)) continue;
    out.push(name, strings[i + 1]!);
  }
  if (extra !== null) for (const item of extra) out.push(item);
  return out;
}

/** The client's request id when it sent a sane one. */
export function incomingRequestId(raw: readonly string[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 12 && raw[i]!.toLowerCase() === 'x-request-id') {
      const value = raw[i + 1]!;
      return value.length > 0 && value.length <= 200 ? value : undefined;
    }
  }
  return undefined;
}

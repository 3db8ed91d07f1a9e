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
  /** The effective host (see `admit`): X-Forwarded-Host. */
  host: string | undefined;
  /**
   * True when `host` is an absolute-form target's authority: it replaces the client's `Host`
   * upstream (RFC 9112 §3.2.2). Set only on that rare path; the common one costs nothing.
   */
  hostFromTarget?: boolean | undefined;
  /** A request header (lower-case name) meant for the proxy only, never forwarded: routing.overrideHeader. */
  drop?: string | undefined;
}

/** What the request rewriting does with a header, by lower-case name: one map lookup per header. */
const HOP = 1;
const REPLACED = 2;
const FORWARDED_FOR = 3;
const VIA_RULE = 4;
const UPSTREAM_RULES = new Map<string, number>([
  ...[...HOP_BY_HOP].map((name) => [name, HOP] as const),
  ...[...REPLACED_UPSTREAM].map((name) => [name, REPLACED] as const),
  ['x-forwarded-for', FORWARDED_FOR],
  ['via', VIA_RULE],
]);

/**
 * Names listed in `Connection: a, b` are hop-by-hop for this message only. Null when the
 * message lists none beyond the standard hop-by-hop names (`keep-alive`, `upgrade`, ...),
 * which are dropped anyway: the common case costs no second pass.
 */
function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) {
        const name = token.trim().toLowerCase();
        if (name !== '' && !HOP_BY_HOP.has(name)) (tokens ??= new Set()).add(name);
      }
    }
  }
  return tokens;
}

/** The Connection header's value says more than `keep-alive`/`close`/`upgrade`-style tokens? Cheap pre-check, no allocation. */
function mayListExtraNames(value: string): boolean {
  const lower = value.length <= 10 ? value.toLowerCase() : '';
  return lower !== 'keep-alive' && lower !== 'upgrade';
}

/** Removes the pairs whose lower-case name is in `listed` (the rare second pass). */
function dropListed(out: string[], listed: Set<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    if (!listed.has(out[i]!.toLowerCase())) kept.push(out[i]!, out[i + 1]!);
  }
  return kept;
}

export function upstreamRequestHeaders(raw: readonly string[], context: ForwardContext): string[] {
  let out: string[] = [];
  let forwardedFor: string | undefined;
  let via: string | undefined;
  let extraListed = false;
  const drop = context.drop;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const rule = UPSTREAM_RULES.get(lower);
    if (rule === undefined) {
      if (lower !== drop) out.push(name, raw[i + 1]!);
      continue;
    }
    if (rule === HOP) {
      if (lower === 'connection' && mayListExtraNames(raw[i + 1]!)) extraListed = true;
      continue;
    }
    if (rule === REPLACED || lower === drop) continue;
    const value = raw[i + 1]!;
    if (rule === FORWARDED_FOR) forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else via = via === undefined ? value : `${via}, ${value}`;
  }
  if (extraListed) {
    const listed = connectionTokens(raw);
    if (listed !== null) {
      out = dropListed(out, listed);
      // A Connection-listed X-Forwarded-For or Via is hop-by-hop: not chained.
      if (listed.has('x-forwarded-for')) forwardedFor = undefined;
      if (listed.has('via')) via = undefined;
    }
  }
  out.push(
    'x-forwarded-for', forwardedFor === undefined ? context.clientIp : `${forwardedFor}, ${context.clientIp}`,
    'x-forwarded-proto', context.proto,
    'via', via === undefined ? VIA : `${via}, ${VIA}`,
    'x-request-id', context.requestId,
  );
  if (context.host !== undefined) {
    if (context.hostFromTarget === true) setHost(out, context.host);
    out.push('x-forwarded-host', context.host);
  }
  return out;
}

/**
 * An HTTP/2 request's header pairs in HTTP/1.1 form, for `upstreamRequestHeaders`: the
 * pseudo-headers dropped, `host` set from the authority (RFC 9113 §8.3.1: `:authority` stands
 * for Host), and `cookie` fields, which HTTP/2 may split, joined with "; " into one
 * (RFC 9113 §8.2.3), since HTTP/1.1 allows only one Cookie line.
 */
export function h2RequestHeaders(raw: readonly string[], authority: string | undefined): string[] {
  const out: string[] = authority === undefined ? [] : ['host', authority];
  let cookie: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a /* : */) continue;
    // HTTP/2 header names are lower-case (RFC 9113 §8.2.1): no case folding needed.
    if (name === 'host') {
      if (authority === undefined) out.push('host', raw[i + 1]!);
      continue;
    }
    if (name === 'cookie') {
      cookie = cookie === undefined ? raw[i + 1]! : `${cookie}; ${raw[i + 1]!}`;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (cookie !== undefined) out.push('cookie', cookie);
  return out;
}

/** Sets the (single: `admit` refuses two) Host pair's value, or adds one (an HTTP/1.0 request may have none). */
function setHost(out: string[], host: string): void {
  for (let i = 0; i < out.length; i += 2) {
    if (out[i]!.length === 4 && out[i]!.toLowerCase() === 'host') {
      out[i + 1] = host;
      return;
    }
  }
  out.unshift('host', host);
}

/** Upstream response headers as strings, hop-by-hop removed; `extra` pairs appended. */
export function downstreamResponseHeaders(raw: readonly Buffer[], extra: readonly string[] | null): string[] {
  let out: string[] = [];
  let extraListed = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection' && mayListExtraNames(raw[i + 1]!.toString('latin1'))) extraListed = true;
      continue;
    }
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (extraListed) {
    const listed = connectionTokens(raw.map((item) => item.toString('latin1')));
    if (listed !== null) out = dropListed(out, listed);
  }
  if (extra !== null) for (const item of extra) out.push(item);
  return out;
}

/** The client's address as X-Forwarded-For names it: an IPv4 client on a dual-stack listener without its `::ffff:` prefix. */
export function clientAddress(remoteAddress: string | undefined): string {
  const address = remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
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

// `tls.redirectHttp` (SPEC §13): where a plain-HTTP request is sent instead — the same host
// with the HTTPS listener's port (none for 443), the same path and query. Pure.

/** `host` as `admit` accepted it (`uri-host [":" port]`, IPv6 literals in brackets); `path` in origin-form. */
export function httpsLocation(host: string, path: string, port: number): string {
  return `https://${withoutPort(host)}${port === 443 ? '' : `:${port}`}${path}`;
}

function withoutPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

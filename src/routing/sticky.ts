// Sticky pools (routing.stickyCookie): reading our cookie out of a `Cookie` header and the
// `Set-Cookie` line that pins a client to a pool. Pure, and cheap on the request path: the
// header is scanned in place, only the value found is sliced out.

/**
 * The value of the first cookie called `name` in a `Cookie` header (`a=1; name=blue`), without
 * surrounding quotes; undefined when there is none. Names are case-sensitive.
 */
export function cookieValue(header: string, name: string): string | undefined {
  const length = header.length;
  let start = 0;
  while (start < length) {
    while (start < length && (header.charCodeAt(start) === 32 || header.charCodeAt(start) === 9)) start++;
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    if (header.charCodeAt(start + name.length) === 61 /* = */ && header.startsWith(name, start)) {
      let from = start + name.length + 1;
      let to = end;
      while (to > from && (header.charCodeAt(to - 1) === 32 || header.charCodeAt(to - 1) === 9)) to--;
      if (to - from >= 2 && header.charCodeAt(from) === 34 && header.charCodeAt(to - 1) === 34) {
        from++;
        to--;
      }
      return header.slice(from, to);
    }
    start = end + 1;
  }
  return undefined;
}

/** The `Set-Cookie` value that keeps a client on `pool`: a session cookie for the whole site. */
export function stickyCookieHeader(name: string, pool: string): string {
  return `${name}=${pool}; Path=/; HttpOnly; SameSite=Lax`;
}

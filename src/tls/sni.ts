// Which certificate pair answers a TLS server name (SPEC §13). Pure: the names come from each
// pair's SAN list; an exact name wins over a wildcard, and a wildcard `*.example.com` covers
// exactly one label (`a.example.com`, not `example.com` nor `a.b.example.com`, RFC 6125 §6.4.3).
// Anything odd — empty, too long, not a string — finds nothing, and the caller uses its default.

/** RFC 1035 §2.3.4: 253 characters, plus the trailing dot a fully qualified name may carry. */
const MAX_NAME = 254;
/** A host name's characters (LDH, plus `_` some internal names use); `*`, NUL, spaces and the like are no host's name. */
const HOST_NAME = /^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$/;

export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  /** `*.example.com` stored as `example.com`. */
  private readonly wildcard = new Map<string, T>();

  /** `entries` in config order: when two pairs claim a name, the first keeps it. */
  constructor(entries: Iterable<{ names: readonly string[]; value: T }>) {
    for (const { names, value } of entries) {
      for (const raw of names) {
        const name = raw.toLowerCase();
        if (name.startsWith('*.')) {
          if (!this.wildcard.has(name.slice(2))) this.wildcard.set(name.slice(2), value);
        } else if (!this.exact.has(name)) {
          this.exact.set(name, value);
        }
      }
    }
  }

  /** The value for a client's server name, or undefined (no match, or a name no host could have). */
  lookup(servername: unknown): T | undefined {
    if (typeof servername !== 'string' || servername.length === 0 || servername.length > MAX_NAME) return undefined;
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (!HOST_NAME.test(name) || name.includes('..')) return undefined;
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    // `.example.com` or a single label has no leftmost label for a wildcard to stand for.
    if (dot <= 0) return undefined;
    return this.wildcard.get(name.slice(dot + 1));
  }
}

// The upstream's answer to an Upgrade request, read as raw bytes by the tunnel: its head
// parsed (status, headers, Connection tokens), and where its body ends when it is not a 101
// (Content-Length, chunked framing, or the connection's close), so a refused upgrade is relayed
// byte for byte and both sockets close right after it. Pure: no sockets here.

export interface ParsedHead {
  statusLine: string;
  status: number;
  headers: [string, string][];
  connectionTokens: Set<string>;
}

export function parseHead(text: string): ParsedHead | null {
  const lines = text.slice(0, -4).split('\r\n');
  const statusLine = lines[0]!;
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (match === null) return null;
  const headers: [string, string][] = [];
  const connectionTokens = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    headers.push([name, value]);
    if (name.toLowerCase() === 'connection') {
      for (const token of value.split(',')) connectionTokens.add(token.trim().toLowerCase());
    }
  }
  return { statusLine, status: Number(match[1]), headers, connectionTokens };
}

/** Finds where an answer's body ends, over raw bytes: `feed` returns how many bytes of the chunk belong to it (-1: bad framing). */
export interface BodyEnd {
  readonly delimitedByClose: boolean;
  readonly done: boolean;
  feed(chunk: Buffer): number;
}

export function bodyEnd(head: ParsedHead, isHead: boolean): BodyEnd {
  if (isHead || head.status === 204 || head.status === 304) return new LengthEnd(0);
  let length: number | undefined;
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding' && /(^|,)\s*chunked\s*$/i.test(value)) return new ChunkedEnd();
    if (lower === 'content-length' && /^\d+$/.test(value)) length = Number(value);
  }
  return length === undefined ? new CloseEnd() : new LengthEnd(length);
}

class LengthEnd implements BodyEnd {
  readonly delimitedByClose = false;
  constructor(private remaining: number) {}
  get done(): boolean {
    return this.remaining === 0;
  }
  feed(chunk: Buffer): number {
    const used = Math.min(chunk.length, this.remaining);
    this.remaining -= used;
    return used;
  }
}

class CloseEnd implements BodyEnd {
  readonly delimitedByClose = true;
  readonly done = false;
  feed(chunk: Buffer): number {
    return chunk.length;
  }
}

const enum Chunk { Size, Data, DataEnd, Trailer, Done }

/** RFC 9112 §7.1 chunked framing: size line, data, CRLF, ..., `0` line, trailer lines, empty line. */
class ChunkedEnd implements BodyEnd {
  readonly delimitedByClose = false;
  private state = Chunk.Size;
  private line = '';
  private remaining = 0;

  get done(): boolean {
    return this.state === Chunk.Done;
  }

  feed(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length && this.state !== Chunk.Done) {
      if (this.state === Chunk.Data) {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = Chunk.DataEnd;
        continue;
      }
      const newline = chunk.indexOf(0x0a, i);
      const end = newline === -1 ? chunk.length : newline;
      this.line += chunk.toString('latin1', i, end);
      if (this.line.length > 8192) return -1;
      if (newline === -1) return chunk.length;
      i = newline + 1;
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      if (this.state === Chunk.DataEnd) {
        if (line !== '') return -1;
        this.state = Chunk.Size;
      } else if (this.state === Chunk.Size) {
        const size = /^([0-9a-fA-F]+)\s*(;.*)?$/.exec(line);
        if (size === null) return -1;
        this.remaining = parseInt(size[1]!, 16);
        this.state = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
      } else if (line === '') {
        this.state = Chunk.Done; // the empty line after the trailers
      }
    }
    return i;
  }
}

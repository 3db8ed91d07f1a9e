// What one proxied request did, as the access log (and later the metrics) see it.

export interface RequestRecord {
  reqId: string;
  method: string;
  url: string;
  status: number;
  ms: number;
  pool: string | null;
  version: string | null;
  target: string | null;
  retries: number;
  bytes: number;
  /** Upgrade tunnels only: bytes relayed to the upstream (`bytes` went to the client). */
  bytesUp?: number;
  error?: string;
  /** Set when a request was sent again on a fresh connection after a stale keep-alive one (not counted in `retries`, which counts other targets). */
  staleRetries?: number;
  /** Set on requests of a listener other than the main (plain HTTP) one: `'preview'`, or `'tls'` for the HTTPS listener. */
  listener?: 'preview' | 'tls';
  /** SPEC §14: the client's HTTP version, `'1.1'` (1.0 included) or `'2'` (an HTTP/2 stream). */
  proto?: '1.1' | '2';
  /** SPEC §14: a gRPC request's status (the `grpc-status` trailer or trailers-only header, or the proxy's own 14/4). */
  grpcStatus?: number;
}

export interface RequestObserver {
  requestFinished(record: RequestRecord): void;
}

// The probe the active checker runs: by the pool's `healthCheck.type` (SPEC §5, §14).
import { grpcProbe } from './grpc-probe.js';
import { httpProbe, type Probe } from './http-probe.js';

/** `type: grpc` → grpc.health.v1 Check over HTTP/2; `http` or absent → GET `path`. */
export const healthProbe: Probe = (origin, settings, servername, tls) =>
  (settings.type === 'grpc' ? grpcProbe : httpProbe)(origin, settings, servername, tls);

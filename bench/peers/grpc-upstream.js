// The gRPC upstream of the bench's gRPC rows: the demo's Greeter (unary SayHello, a short reply)
// and grpc.health.v1.Health, from the built package (dist/), plaintext HTTP/2 on one port.
//   node bench/peers/grpc-upstream.js PORT
import { startGrpcDemoApp } from '../../dist/demo/grpc-demo-app.js';

await startGrpcDemoApp({ pool: 'bench', version: '1.0.0', instance: 'upstream' }, '127.0.0.1', Number(process.argv[2]));

// STUB (issue 15, being written): the HTTP/2 upstream client, node:http2 sessions per target.
import type { Dispatcher } from 'undici';
import type { TargetClient, UpstreamClientOptions } from './upstream-client.js';
import type { UpstreamTlsSource } from '../tls/upstream-tls.js';

export class H2UpstreamClient implements TargetClient {
  waiting = 0;
  constructor(readonly origin: string, _options: UpstreamClientOptions, _servername: string | null = null, _tls: UpstreamTlsSource | null = null) {}
  dispatch(_options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    handler.onError?.(new Error('h2 upstream not built yet'));
    return true;
  }
  dispatchFresh(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.dispatch(options, handler);
  }
  takeFreshConnection(): boolean { return false; }
  get connected(): number { return 0; }
  get closed(): boolean { return false; }
  async close(): Promise<void> {}
  async destroy(): Promise<void> {}
}

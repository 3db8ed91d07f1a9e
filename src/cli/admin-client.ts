// The CLI's client for the admin API. Turns every failure into one of two errors the
// CLI prints: the server refused (its code and message) or it could not be reached.
import { request } from 'undici';
import { userInfo } from 'node:os';

export class RefusedError extends Error {
  readonly status: number;
  readonly code: string;
  /** The error's `details` (e.g. INVALID_CONFIG's `{ problems }`), when the server sent any. */
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class UnreachableError extends Error {}

export interface AdminClientOptions {
  url: string;
  token?: string | undefined;
  timeoutMs?: number;
}

export class AdminClient {
  private readonly options: AdminClientOptions;

  constructor(options: AdminClientOptions) {
    this.options = options;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.call<T>('POST', path, body, headers);
  }

  put<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.call<T>('PUT', path, body, headers);
  }

  /** DELETE, with an optional JSON body (`DELETE /pools/:pool/targets/:id` takes `{ force?, reason? }`). */
  delete<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.call<T>('DELETE', path, body, headers);
  }

  private async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { 'x-switchyard-actor': actorName(), ...extra };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = new URL(path, this.options.url.endsWith('/') ? this.options.url : `${this.options.url}/`);
    let response;
    try {
      response = await request(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: this.options.timeoutMs ?? 10_000,
        bodyTimeout: this.options.timeoutMs ?? 10_000,
      });
    } catch (err) {
      throw new UnreachableError(`cannot reach the admin API at ${this.options.url}: ${(err as Error).message}`);
    }
    const text = await response.body.text();
    const parsed = parseJson(text);
    if (response.statusCode >= 400) {
      const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new RefusedError(response.statusCode, error?.code ?? `HTTP_${response.statusCode}`, error?.message ?? text.trim(), error?.details);
    }
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function actorName(): string {
  try {
    return userInfo().username.replace(/[^\w.@-]/g, '_').slice(0, 64) || 'cli';
  } catch {
    return 'cli';
  }
}

import { BovedaError, errorCodes, type ErrorCode, type JobRecord } from '../../core/index.js';

/** The environment variables that make the CLI a client of a running `boveda serve`. */
export const SERVER_ENV = 'BOVEDA_SERVER';
export const TOKEN_ENV = 'BOVEDA_TOKEN';

/** $BOVEDA_SERVER when set and not blank: the CLI then talks to that server instead of the local data directory. */
export function remoteServer(env: NodeJS.ProcessEnv): string | undefined {
  const value = env[SERVER_ENV]?.trim();
  return value ? value : undefined;
}

/** An http(s) base URL without credentials, query or fragment; the trailing slash dropped. INVALID_ARGUMENT naming it otherwise. */
export function checkServerUrl(text: string, from = SERVER_ENV): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BovedaError('INVALID_ARGUMENT', `${from} "${text}" is not a URL (example: http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BovedaError('INVALID_ARGUMENT', `${from} "${text}": use an http:// or https:// URL`);
  if (url.username || url.password || url.search || url.hash) throw new BovedaError('INVALID_ARGUMENT', `${from} "${text}": give the server's base URL only (no user, query or fragment; the token goes in ${TOKEN_ENV})`);
  return url.href.replace(/\/+$/, '');
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

/**
 * A client of Boveda's HTTP API (docs/api.md) on the global fetch: a bearer token, JSON both ways,
 * and the server's error bodies `{error:{code,message}}` turned back into BovedaErrors with the same
 * code, so the CLI's exit statuses are those of a local run. A server that cannot be reached or
 * answers something other than the API is SERVER_UNREACHABLE naming the URL.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = checkServerUrl(baseUrl);
    this.#token = token;
  }

  /** The client of $BOVEDA_SERVER with $BOVEDA_TOKEN; AUTH_REQUIRED (saying how to get a token) when the token is missing. */
  static fromEnv(env: NodeJS.ProcessEnv): ApiClient {
    const server = checkServerUrl(remoteServer(env) ?? '');
    const token = env[TOKEN_ENV]?.trim();
    if (!token) {
      throw new BovedaError('AUTH_REQUIRED', `${SERVER_ENV} is set (${server}) but ${TOKEN_ENV} is not: create a token with "boveda user token create NAME --name T" on the server, or with "boveda login --server ${server}", and export ${TOKEN_ENV}=<token>`);
    }
    return new ApiClient(server, token);
  }

  url(path: string, query: RequestOptions['query'] = {}): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
    const text = search.toString();
    return `${this.baseUrl}${path}${text ? `?${text}` : ''}`;
  }

  /** One request; the parsed JSON answer of a 2xx, else the server's error as a BovedaError. */
  async request<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    // Routes without a body accept `{}`: every change sends JSON, so the CSRF guard never trips.
    const body = method === 'GET' ? undefined : JSON.stringify(options.body ?? {});
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await this.#fetch(url, { method, headers, body, signal: options.signal });
    const text = await response.text().catch((error: unknown) => { throw this.#unreachable(url, error); });
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new BovedaError('SERVER_UNREACHABLE', `${this.baseUrl} answered ${method} ${path} with HTTP ${response.status} and something that is not Boveda's API (is ${SERVER_ENV} the server's base URL?)`);
    }
    if (response.ok) return parsed as T;
    throw this.#apiError(parsed, response.status, `${method} ${path}`);
  }

  /**
   * Follows one job over the event stream (`GET /api/events?job=ID`): yields the job now and at each
   * change; ends when the server ends the stream (the job finished, or the server stopped).
   */
  async *jobEvents(jobId: string, signal?: AbortSignal): AsyncGenerator<JobRecord> {
    const url = this.url('/api/events', { job: jobId });
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    const response = await this.#fetch(url, { method: 'GET', headers, signal });
    if (!response.ok) {
      const parsed = await response.json().catch(() => undefined);
      throw this.#apiError(parsed, response.status, 'GET /api/events');
    }
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseEvent(block);
          if (event?.type === 'job') yield JSON.parse(event.data) as JobRecord;
        }
      }
    } catch (error) {
      if (signal?.aborted) throw new BovedaError('ABORTED', 'cancelled', { cause: error });
      // A broken stream is not the job's outcome: the caller asks for the job again.
    }
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (init.signal?.aborted) throw new BovedaError('ABORTED', 'cancelled', { cause: error });
      throw this.#unreachable(url, error);
    }
  }

  #unreachable(url: string, error: unknown): BovedaError {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    return new BovedaError('SERVER_UNREACHABLE', `cannot reach the Boveda server at ${this.baseUrl} (${SERVER_ENV}): ${why} (${new URL(url).pathname})`, { cause: error });
  }

  #apiError(parsed: unknown, status: number, what: string): BovedaError {
    const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (!error || typeof error.code !== 'string' || typeof error.message !== 'string') {
      return new BovedaError('SERVER_UNREACHABLE', `${this.baseUrl} answered ${what} with HTTP ${status} and no Boveda error (is ${SERVER_ENV} the server's base URL?)`);
    }
    const message = error.code === 'AUTH_REQUIRED' && this.#token
      ? `${error.message} (the server ${this.baseUrl} refused ${TOKEN_ENV}: it is wrong, revoked or expired; create a new one with "boveda login" or "boveda user token create NAME --name T")`
      : error.message;
    return jobError({ code: error.code, message });
  }
}

/** A job's or the server's {code, message} as a BovedaError; a code this CLI does not know becomes INTERNAL naming it. */
export function jobError(error: { code: string; message: string }): BovedaError {
  if (Object.hasOwn(errorCodes, error.code)) return new BovedaError(error.code as ErrorCode, error.message);
  return new BovedaError('INTERNAL', `${error.message} [server error code ${error.code}]`);
}

function parseEvent(block: string): { type: string; data: string } | null {
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? null : { type, data: data.join('\n') };
}

/**
 * The UI's only way to the server: same-origin fetch with the session cookie, JSON in and out.
 * Every failure becomes an ApiError carrying the API's code and message (docs/api.md), or a
 * NETWORK_ERROR / BAD_RESPONSE of our own when there is no API answer to show.
 */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

let onUnauthorized: (() => void) | null = null;

/** Called when a request answers 401 AUTH_REQUIRED (session gone or expired): the app shows the login page. */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'NETWORK_ERROR', `the server did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await response.text();
  let parsed: unknown = null;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, 'BAD_RESPONSE', `${method} ${path} answered ${response.status} with a body that is not JSON`);
    }
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`;
    const message = typeof error?.message === 'string' ? error.message : `${method} ${path} failed with status ${response.status}`;
    // AUTH_REQUIRED: the session is gone. AUTH_FAILED (a wrong password at login or when changing it) is the form's to show.
    if (response.status === 401 && code !== 'AUTH_FAILED' && onUnauthorized) onUnauthorized();
    throw new ApiError(response.status, code, message);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  // Every mutation sends a JSON body: the server refuses cookie-signed mutations without
  // Content-Type: application/json (a cross-site form cannot send that).
  delete: <T>(path: string) => request<T>('DELETE', path, {}),
};

/** A path segment from a name or id (names may hold characters that are special in URLs). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/** Query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** Unwraps a list answer: the API may send an array or `{ <key>: [...] }`. */
export function listOf<T>(answer: unknown, key: string): T[] {
  if (Array.isArray(answer)) return answer as T[];
  const value = (answer as Record<string, unknown> | null)?.[key];
  return Array.isArray(value) ? (value as T[]) : [];
}

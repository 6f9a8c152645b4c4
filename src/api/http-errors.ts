import { BovedaError, type ErrorCode } from '../core/index.js';

const BAD_REQUEST: readonly ErrorCode[] = ['INVALID_ARGUMENT', 'PATH_NOT_ALLOWED', 'POINT_AMBIGUOUS'];
const CONFLICT: readonly ErrorCode[] = [
  'VM_BUSY', 'VM_RUNNING', 'INVALID_STATE', 'ALREADY_PROTECTED', 'NOT_PROTECTED', 'POLICY_IN_USE', 'LAST_ADMIN', 'UNDELETE_WINDOW_PASSED',
  'VAULT_LOCKED', 'RESTORE_TARGET_EXISTS',
];

/** A QEMU process the request named (e.g. a QMP socket) failed: the server is a gateway to it. */
const BAD_GATEWAY: readonly ErrorCode[] = ['QEMU_UNREACHABLE', 'QEMU_PROTOCOL', 'QEMU_TIMEOUT'];

/** The HTTP status of an error code (docs/api.md "Errors"). */
export function httpStatusOf(code: ErrorCode): number {
  if (BAD_GATEWAY.includes(code)) return 502;
  if (BAD_REQUEST.includes(code)) return 400;
  if (code === 'AUTH_REQUIRED' || code === 'AUTH_FAILED') return 401;
  if (code === 'FORBIDDEN') return 403;
  if (code === 'RATE_LIMITED') return 429;
  if (code.endsWith('_NOT_FOUND') || code === 'NOT_FOUND') return code === 'VAULT_NOT_FOUND' ? 500 : 404;
  if (code.endsWith('_EXISTS') || CONFLICT.includes(code)) return code === 'STORAGE_EXISTS' ? 500 : 409;
  return 500;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** A fastify error (bad JSON, body too large, validation, media type): its status and a clear message. */
interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: unknown[];
  validationContext?: string;
}

/**
 * Turns anything thrown while serving a request into a status and `{error:{code,message}}`: a
 * BovedaError by its code; fastify's own 4xx errors as INVALID_ARGUMENT (or NOT_FOUND) with a message
 * naming what was wrong; anything else as 500 INTERNAL with its message only — never a stack.
 */
export function toHttpError(error: unknown): { status: number; body: ApiErrorBody; retryAfterSeconds?: number } {
  if (error instanceof BovedaError) {
    const retry = (error as BovedaError & { retryAfterSeconds?: unknown }).retryAfterSeconds ?? error.details.retryAfterSeconds;
    return {
      status: httpStatusOf(error.code), body: { error: { code: error.code, message: error.message } },
      retryAfterSeconds: typeof retry === 'number' && retry > 0 ? Math.ceil(retry) : undefined,
    };
  }
  const fastifyError = error as FastifyLikeError;
  const status = typeof fastifyError?.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = status === 404 ? 'NOT_FOUND' : status === 401 ? 'AUTH_REQUIRED' : status === 429 ? 'RATE_LIMITED' : 'INVALID_ARGUMENT';
    return { status, body: { error: { code, message: clientMessage(fastifyError) } } };
  }
  const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  return { status: 500, body: { error: { code: 'INTERNAL', message: `internal error: ${message.slice(0, 500)}` } } };
}

function clientMessage(error: FastifyLikeError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return 'unsupported Content-Type: send JSON with "Content-Type: application/json"';
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return 'request body too large (the limit is 1 MiB)';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return 'empty JSON body: send a JSON object, e.g. {}';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return 'Content-Length does not match the body';
    default: break;
  }
  if (error.validation) return `invalid request: ${error.message}`;
  return error.message.slice(0, 500);
}

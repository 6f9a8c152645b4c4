import { Type, type TSchema } from '@sinclair/typebox';

/** Bounds of every string the API takes: names, paths, scripts. */
export const MAX_NAME = 64;
export const MAX_PATH = 4096;
export const MAX_SCRIPT = 4096;

export const Name = (description = 'a name') => Type.String({ minLength: 1, maxLength: MAX_NAME, description });
export const Path = (description = 'an absolute path') => Type.String({ minLength: 1, maxLength: MAX_PATH, description });
export const Script = Type.String({ minLength: 1, maxLength: MAX_SCRIPT, description: 'a shell command line' });

/** A request body: no properties but the listed ones. */
export function Body<T extends Record<string, TSchema>>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

export const VmParams = Type.Object({ name: Name('VM name') });
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'job id (or unique prefix)' }) });
export const PolicyParams = Type.Object({ name: Name('policy name') });

export const ApiError = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) }, { description: 'an error' });

export const Job = Type.Object({
  id: Type.String(), type: Type.String(), item: Type.Union([Type.String(), Type.Null()]), trigger: Type.String(), status: Type.String(),
  queuedAt: Type.String(), startedAt: Type.Union([Type.String(), Type.Null()]), endedAt: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Object({}, { additionalProperties: true }), warnings: Type.Array(Type.String()),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  result: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
}, { additionalProperties: true, description: 'a job (core/job.ts JobRecord)' });

export const JobReply = Type.Object({ job: Job });
/** Documented replies of a route that starts a job. */
export const JOB_STARTED = { 202: JobReply };
export const AnyObject = Type.Object({}, { additionalProperties: true });

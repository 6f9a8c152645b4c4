/**
 * Live job updates: one EventSource on /api/events for the whole app; pages subscribe and
 * unsubscribe as they come and go. The browser reconnects by itself when the stream drops.
 */
import type { Job } from './types.js';

type Listener = (job: Job) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;

function dispatch(data: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return;
  }
  // The stream sends a Job; accept { job: Job } too.
  const job = (parsed !== null && typeof parsed === 'object' && 'job' in parsed ? (parsed as { job: unknown }).job : parsed) as Job | null;
  if (!job || typeof job.id !== 'string') return;
  for (const listener of listeners) listener(job);
}

export function openEvents(): void {
  if (source) return;
  source = new EventSource('/api/events', { withCredentials: true });
  source.addEventListener('job', (event) => dispatch((event as MessageEvent<string>).data));
  source.addEventListener('message', (event) => dispatch(event.data as string));
}

export function closeEvents(): void {
  source?.close();
  source = null;
}

/** Calls `listener` with every changed job; returns the unsubscribe function. */
export function onJob(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

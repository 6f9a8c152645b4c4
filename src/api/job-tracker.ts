import { currentJobOwner, type AppContext, type JobRunOutcome, type NewJob, type StoredJob } from '../app/index.js';

/**
 * The jobs this server runs in the background: started once their row exists (the client gets the
 * queued job at once), each with an AbortController so close() cancels them all (they end as
 * cancelled, leaving no partial point) and waits for them.
 */
export class JobTracker {
  readonly #app: AppContext;
  readonly #running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #closed = false;

  constructor(app: AppContext) {
    this.#app = app;
  }

  /** Creates the job (VM_BUSY and the like are thrown here, before any reply), then runs it in the background. */
  async start(job: Omit<NewJob, 'owner'>, run: (queued: StoredJob, signal: AbortSignal) => Promise<JobRunOutcome<unknown>>): Promise<StoredJob> {
    if (this.#closed) throw new Error('the server is shutting down');
    const queued = await this.#app.catalog.jobs.create({ ...job, owner: currentJobOwner() });
    const controller = new AbortController();
    // runJob records every failure in the job itself; a throw here is a catalog failure, which the job row cannot show either.
    const done = run(queued, controller.signal).then(() => undefined, () => undefined).finally(() => this.#running.delete(queued.id));
    this.#running.set(queued.id, { controller, done });
    return queued;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Cancels every running job and waits for them to end (idempotent). */
  async close(): Promise<void> {
    this.#closed = true;
    const running = [...this.#running.values()];
    for (const entry of running) entry.controller.abort();
    await Promise.all(running.map((entry) => entry.done));
  }
}

/** Drops the value: the tracker needs only that the run ended. */
export function asUnknownOutcome<T>(outcome: Promise<JobRunOutcome<T>>): Promise<JobRunOutcome<unknown>> {
  return outcome;
}

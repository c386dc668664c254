/**
 * The live tail of every job in training (issue 16): a job's new log lines and metrics reach the
 * store within a second of being printed, and the end of its command is noticed as fast, without a
 * worker slot per job. The poll step (train-step.ts) stays the source of truth: it alone moves the
 * job on, and it reads whatever the tail did not store. The tail only stores sooner, and wakes the
 * poll step when the command ended.
 *
 * Every `everyMs` the watcher lists the jobs in training and tails each one whose lease it can take
 * (log-lease.ts), at most `maxStreams` at once. Leases are renewed every `renewMs` while owned; a
 * tail whose lease went to another replica stops. A tail that fails is dropped with its lease and
 * tried again after a backoff; the poll step goes on regardless. Offsets live in Redis and appends
 * are guarded, so a replica dying anywhere neither loses nor doubles a byte.
 */
import { coerceError, type Logger } from '@inno-train/core';
import type { HostExecutor } from '@inno-train/host-port';
import type { JobStore } from '@inno-train/job-store';
import type { JobRecord } from '@inno-train/schemas';
import { hostTarget, type SshIdentity } from '@inno-train/workflow';
import type { LogLeases } from './log-lease';
import { logInstanceId } from './log-ingest';
import { followLog, type TailDeps, type TailOptions } from './log-tail';

export interface LogWatcherDeps extends Omit<TailDeps, 'shell' | 'store'> {
  store: TailDeps['store'] & Pick<JobStore, 'list'>;
  shell: Required<Pick<HostExecutor, 'stream'>>;
  identity: SshIdentity;
  leases: LogLeases;
  /** Runs the job's parked train step now (promoteStage); false when it is not parked. */
  wake(jobId: string, attempt: number): Promise<boolean>;
  logger: Logger;
}

export interface LogWatcherOptions extends TailOptions {
  /** How often the jobs in training are listed. @defaultValue 1000 */
  everyMs: number;
  /** How often owned leases are renewed (well inside their TTL). @defaultValue 3000 */
  renewMs: number;
  /** Tails at most this many jobs at once. @defaultValue 2000 */
  maxStreams: number;
  /** First wait before a job whose tail failed is tried again; doubles per failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Jobs per listing page. */
  pageSize: number;
}

export const LOG_WATCHER_DEFAULTS = {
  everyMs: 1000,
  renewMs: 3000,
  maxStreams: 2000,
  backoffMs: 2000,
  maxBackoffMs: 60_000,
  pageSize: 500,
  chunkBytes: 256 * 1024,
  pollSeconds: 0.2,
} satisfies LogWatcherOptions;

/** A poll step that was busy when the command ended is woken again, a few times, a tick apart. */
const MAX_WAKES = 5;

interface Tail {
  instanceId: string;
  controller: AbortController;
  /** Set when the lease went to another replica: it is not ours to release. */
  leaseLost: boolean;
  done: Promise<void>;
}

export interface LogWatcher {
  /** Ids of the jobs this watcher tails now. */
  tailing(): string[];
  /** Stops listing, stops every tail and releases its leases. */
  close(): Promise<void>;
}

export function startLogWatcher(deps: LogWatcherDeps, overrides: Partial<LogWatcherOptions> = {}): LogWatcher {
  const watcher = new Watcher(deps, { ...LOG_WATCHER_DEFAULTS, ...overrides });
  watcher.start();
  return { tailing: () => watcher.tailing(), close: () => watcher.close() };
}

/** A job whose command ended (on that instance): not tailed again; its poll step is woken. */
interface Ended {
  instanceId: string;
  wakes: number;
  attempt: number;
}

class Watcher {
  private readonly tails = new Map<string, Tail>();
  private readonly ended = new Map<string, Ended>();
  private readonly backoff = new Map<string, { until: number; failures: number }>();
  private closed = false;
  private listing: Promise<void> = Promise.resolve();
  private listTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: LogWatcherDeps,
    private readonly options: LogWatcherOptions,
  ) {}

  start(): void {
    this.scheduleList();
    this.renewTimer = setInterval(() => void this.renew(), this.options.renewMs);
  }

  tailing(): string[] {
    return [...this.tails.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.listTimer);
    clearInterval(this.renewTimer);
    await this.listing;
    for (const tail of this.tails.values()) tail.controller.abort(new Error('the monitor is shutting down'));
    await Promise.all([...this.tails.values()].map((tail) => tail.done));
  }

  private scheduleList(): void {
    if (this.closed) return;
    this.listTimer = setTimeout(() => {
      this.listing = this.tick()
        .catch((error) =>
          this.deps.logger.warn({ err: coerceError(error) }, 'log watcher could not list the jobs in training; trying again'),
        )
        .finally(() => this.scheduleList());
    }, this.options.everyMs);
  }

  /** Stops tails of jobs that left training, wakes ended ones again if need be, and starts new tails. */
  private async tick(): Promise<void> {
    const training = await this.listTraining();
    for (const [id, tail] of this.tails) {
      const job = training.get(id);
      if (!job || logInstanceId(job) !== tail.instanceId) tail.controller.abort(new Error('the job left training on that host'));
    }
    for (const id of [...this.ended.keys(), ...this.backoff.keys()]) {
      if (training.has(id)) continue;
      this.ended.delete(id);
      this.backoff.delete(id);
    }
    const candidates: JobRecord[] = [];
    for (const job of training.values()) {
      const ended = this.ended.get(job.id);
      if (ended && ended.instanceId === logInstanceId(job)) await this.wake(job.id, ended);
      else if (this.eligible(job)) candidates.push(job);
    }
    for (const job of candidates) {
      if (this.closed || this.tails.size >= this.options.maxStreams) return;
      if (await this.deps.leases.take(job.id)) this.startTail(job);
    }
  }

  private async listTraining(): Promise<Map<string, JobRecord>> {
    const found = new Map<string, JobRecord>();
    let after: string | undefined;
    for (;;) {
      const page = await this.deps.store.list({ status: 'training', limit: this.options.pageSize, ...(after ? { after } : {}) });
      for (const job of page.jobs) found.set(job.id, job);
      if (!page.hasMore || !page.nextAfter) return found;
      after = page.nextAfter;
    }
  }

  private eligible(job: JobRecord): boolean {
    if (this.tails.has(job.id) || !job.training.startedAt || !job.instance?.ip) return false;
    return (this.backoff.get(job.id)?.until ?? 0) <= Date.now();
  }

  private async wake(id: string, ended: Ended): Promise<void> {
    if (ended.wakes >= MAX_WAKES) return;
    ended.wakes++;
    // Woken: the step runs now. Not parked (it was running): ask again next tick, once it parked.
    if (await this.deps.wake(id, ended.attempt)) ended.wakes = MAX_WAKES;
  }

  private startTail(job: JobRecord): void {
    const tail: Tail = { instanceId: logInstanceId(job), controller: new AbortController(), leaseLost: false, done: Promise.resolve() };
    this.tails.set(job.id, tail);
    tail.done = this.runTail(job, tail).finally(() => this.tails.delete(job.id));
  }

  private async runTail(job: JobRecord, tail: Tail): Promise<void> {
    const logger = this.deps.logger.child({ jobId: job.id });
    try {
      const target = hostTarget(job, this.deps.identity);
      const outcome = await followLog(this.deps, { id: job.id, instanceId: tail.instanceId, target }, tail.controller.signal, this.options);
      if (outcome === 'ended') {
        this.backoff.delete(job.id);
        const ended = { instanceId: tail.instanceId, wakes: 0, attempt: job.hostRestarts };
        this.ended.set(job.id, ended);
        // The command ended and its whole log is stored: the poll step moves the job on now.
        await this.wake(job.id, ended);
        logger.debug('live tail: the command ended; woke the train step');
      }
    } catch (error) {
      const failures = (this.backoff.get(job.id)?.failures ?? 0) + 1;
      const waitMs = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (failures - 1));
      this.backoff.set(job.id, { until: Date.now() + waitMs, failures });
      logger.warn(
        { err: coerceError(error) },
        `Live tail of job ${job.id} failed (failure ${failures} in a row); polling carries on, tailing again in ${waitMs} ms`,
      );
    } finally {
      if (!tail.leaseLost) await this.deps.leases.release(job.id).catch(() => undefined);
    }
  }

  /** Renews every lease this watcher holds; a tail whose lease went elsewhere stops. */
  private async renew(): Promise<void> {
    const ids = [...this.tails.keys()];
    try {
      for (const id of await this.deps.leases.renew(ids)) {
        const tail = this.tails.get(id);
        if (!tail) continue;
        tail.leaseLost = true;
        tail.controller.abort(new Error('the lease went to another replica'));
      }
    } catch (error) {
      this.deps.logger.warn({ err: coerceError(error) }, `log watcher could not renew ${ids.length} leases`);
    }
  }
}

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { JobNotFoundError, isoNow, scrubSecrets } from '@inno-train/core';
import { parseJobRecord, type JobEvent, type JobRecord, type NewJobRecord } from '@inno-train/schemas';
import { isTerminal, JOB_STATUSES, RUNNING_STATUSES, type JobEventType, type JobStatus, type Stage } from '@inno-train/workflow-constants';
import { jobDataKeys, ownerKey, storeKeys } from './keys';
import { listJobs, type ListOptions, type ListPage } from './list';
import { createLogStore } from './log-store';
import { publishJobChange } from './notify';
import { BACKFILL_SCRIPT, COMPARE_AND_SET_SCRIPT, RECORD_SPEND_SCRIPT, REMOVE_SCRIPT } from './scripts';
import { secondsInLeftStatus, type StatusChange } from './status-time';

// Readers that follow a job live subscribe to these wake-ups (the store publishes one after each write).
export { JOB_CHANGES, jobChangeChannel, parseJobChange, type JobChange } from './notify';
export type { StatusChange } from './status-time';

export interface JobStoreOptions {
  redis: Redis;
  /** Key namespace, e.g. `inno-train` (tests use their own). */
  namespace: string;
  /** The stored log keeps only its last this-many bytes. */
  maxLogBytes?: number;
  /**
   * Told after every committed status change, with the time the job spent in the status it left
   * (for metrics; read from the job's events after the write, so it costs one read per change).
   * Must not throw; a failed read reports `seconds: null`.
   */
  onStatusChange?: (change: StatusChange) => void;
}

/** An event as stages write it; `at` defaults to now. */
export type EventInput = Omit<JobEvent, 'at'> & { at?: string };

const MAX_UPDATE_RETRIES = 50;

/** The statuses that hold one of the owner's concurrency slots: past `queued`, not ended. */
const SLOT_STATUSES = RUNNING_STATUSES.filter((status) => status !== 'queued');

/** A month's spend ledger outlives its month by a year (usage reports look back). */
const SPEND_LEDGER_TTL_SECONDS = 400 * 24 * 3600;

/** What `update` answers: the record as it now is, whether this call changed it, and why not. */
export interface UpdateResult {
  job: JobRecord;
  changed: boolean;
  /** Set when the change would have started the job past its owner's concurrency limit. */
  waiting?: { running: number; place: number };
}

/** One tenant's job counts by status. */
export type StatusCounts = Record<JobStatus, number>;

/** How long a submission's Idempotency-Key keeps answering with the job it made. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** What an Idempotency-Key was first used for. */
export interface SubmissionReservation {
  jobId: string;
  /** Digest of the request it came with: the same key with another request is refused. */
  fingerprint: string;
}

export type JobStore = ReturnType<typeof createJobStore>;

/**
 * Job records, events and logs in Redis. Records change only through `update`, an optimistic
 * (WATCH/MULTI) read-modify-write, so two workers racing on one job never lose a write.
 */
export function createJobStore(options: JobStoreOptions) {
  const { redis } = options;
  const keys = storeKeys(options.namespace);
  const logs = createLogStore(redis, options.namespace, options.maxLogBytes ?? 8 * 1024 * 1024);

  async function get(id: string): Promise<JobRecord | null> {
    const raw = await redis.get(keys.job(id));
    return raw === null ? null : parseJobRecord(raw);
  }

  async function mustGet(id: string): Promise<JobRecord> {
    const job = await get(id);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  async function create(job: NewJobRecord, firstEvent: JobEvent): Promise<void> {
    const write = redis
      .multi()
      .set(keys.job(job.id), JSON.stringify(job), 'NX')
      .zadd(keys.all, 0, job.id)
      .zadd(keys.byStatus(job.status), 0, job.id)
      .zadd(keys.byOwner(ownerKey(job.createdBy)), 0, job.id)
      .zadd(keys.byOwnerStatus(ownerKey(job.createdBy), job.status), 0, job.id)
      .rpush(keys.events(job.id), JSON.stringify(firstEvent));
    // The first status (queued) reaches the webhook outbox in the same transaction, as later ones do (scripts.ts).
    if (firstEvent.type === 'status') {
      const entry = ['job', job.id, 'type', 'status', 'status', job.status, 'seq', '1', 'at', firstEvent.at];
      write.xadd(keys.webhookOutbox, 'MAXLEN', '~', '100000', '*', ...entry);
    }
    const result = await write.exec();
    if (!result || result[0]?.[1] !== 'OK') throw new Error(`Job ${job.id} already exists`);
  }

  /**
   * Applies `mutate` to the current record atomically. `mutate` returns the new record, or null to
   * leave it unchanged (the usual answer when a step finds its work already done). The write is a
   * compare-and-set on the whole stored value (WATCH would be per connection, and many jobs share
   * one connection), retried when another writer got there first.
   */
  async function update(
    id: string,
    mutate: (job: JobRecord) => JobRecord | null,
    events: EventInput[] | ((next: JobRecord) => EventInput[]) = [],
  ): Promise<UpdateResult> {
    for (let attempt = 0; attempt < MAX_UPDATE_RETRIES; attempt++) {
      const raw = await redis.get(keys.job(id));
      if (raw === null) throw new JobNotFoundError(id);
      const current = parseJobRecord(raw);
      const next = mutate(structuredClone(current));
      if (next === null) return { job: current, changed: false };
      next.updatedAt = isoNow();
      const lines = (typeof events === 'function' ? events(next) : events).map((event) => JSON.stringify(cleanEvent(event)));
      const written = await redis.eval(COMPARE_AND_SET_SCRIPT, ...casArguments(current, next, raw, lines));
      if (written === 1) {
        publishJobChange(redis, options.namespace, id, 'job');
        if (current.status !== next.status) reportStatusChange(id, current.status, next.status, lines);
        return { job: next, changed: true };
      }
      if (Array.isArray(written) && written[0] === 2) {
        return { job: current, changed: false, waiting: { running: Number(written[1]), place: Number(written[2]) } };
      }
    }
    throw new Error(`Job ${id} is changing too fast to update`);
  }

  function reportStatusChange(jobId: string, from: JobStatus, to: JobStatus, written: string[]): void {
    const notify = options.onStatusChange;
    if (!notify) return;
    void secondsInLeftStatus(redis, keys.events(jobId), written)
      .catch(() => null)
      .then((seconds) => notify({ jobId, from, to, seconds }))
      .catch(() => undefined);
  }

  function casArguments(current: JobRecord, next: JobRecord, raw: string, lines: string[]): [number, ...string[]] {
    const owner = ownerKey(current.createdBy);
    const ended = isTerminal(next.status) && !isTerminal(current.status);
    const limit = current.limits.maxConcurrentJobs;
    const admitting = limit !== null && current.status === 'queued' && (SLOT_STATUSES as readonly JobStatus[]).includes(next.status);
    const slotKeys = admitting ? SLOT_STATUSES.map((status) => keys.byOwnerStatus(owner, status)) : [];
    const scriptKeys = [
      keys.job(current.id),
      keys.byStatus(current.status),
      keys.byStatus(next.status),
      keys.events(current.id),
      keys.byOwnerStatus(owner, current.status),
      keys.byOwnerStatus(owner, next.status),
      keys.finished,
      keys.webhookOutbox,
      ...slotKeys,
    ];
    const argv = [raw, JSON.stringify(next), current.id, ended ? String(Date.now()) : '', admitting ? String(limit) : '', ...lines];
    return [scriptKeys.length, ...scriptKeys, ...argv];
  }

  async function appendEvent(id: string, event: EventInput): Promise<void> {
    await redis.rpush(keys.events(id), JSON.stringify(cleanEvent(event)));
    publishJobChange(redis, options.namespace, id, 'job');
  }

  async function events(id: string): Promise<JobEvent[]> {
    const raw = await redis.lrange(keys.events(id), 0, -1);
    return raw.map((line) => JSON.parse(line) as JobEvent);
  }

  /**
   * A page of the job's events after the `after`-th, each with its place as `id` (1-based: the list
   * only ever grows, so an id always names the same event).
   */
  async function eventPage(id: string, after: number, limit: number): Promise<{ events: (JobEvent & { id: number })[]; hasMore: boolean }> {
    const raw = await redis.lrange(keys.events(id), after, after + limit);
    const page = raw.slice(0, limit).map((line, i) => ({ id: after + i + 1, ...(JSON.parse(line) as JobEvent) }));
    return { events: page, hasMore: raw.length > limit };
  }

  /** A page of jobs, newest first (see list.ts for the filters and `nextAfter`). */
  async function list(opts: ListOptions): Promise<ListPage> {
    return listJobs(redis, keys, opts);
  }

  /** How many of one tenant's jobs are in each status. */
  async function countByStatus(createdBy: string | null): Promise<StatusCounts> {
    const owner = ownerKey(createdBy);
    const pipeline = redis.pipeline();
    for (const status of JOB_STATUSES) pipeline.zcard(keys.byOwnerStatus(owner, status));
    const results = (await pipeline.exec()) ?? [];
    return Object.fromEntries(JOB_STATUSES.map((status, i) => [status, Number(results[i]?.[1] ?? 0)])) as StatusCounts;
  }

  /** The oldest queued jobs of one tenant, in submission order. */
  async function oldestQueued(createdBy: string | null, count: number): Promise<string[]> {
    return redis.zrangebylex(keys.byOwnerStatus(ownerKey(createdBy), 'queued'), '-', '+', 'LIMIT', 0, count);
  }

  /** One tenant's running jobs (past `queued`, not ended), up to `limit`. */
  async function running(createdBy: string | null, limit = 1000): Promise<JobRecord[]> {
    const owner = ownerKey(createdBy);
    const pipeline = redis.pipeline();
    for (const status of SLOT_STATUSES) pipeline.zrangebylex(keys.byOwnerStatus(owner, status), '-', '+', 'LIMIT', 0, limit);
    const ids = ((await pipeline.exec()) ?? []).flatMap(([, value]) => (Array.isArray(value) ? (value as string[]) : []));
    const raw = ids.length ? await redis.mget(ids.map((id) => keys.job(id))) : [];
    return raw.filter((r): r is string => r !== null).map(parseJobRecord);
  }

  /**
   * Deletes an ended job (record, events, log, index entries) if `allow` accepts it as it is
   * stored now. Answers what it found: removed, refused (with the record), or missing.
   */
  async function remove(
    id: string,
    allow: (job: JobRecord) => boolean,
  ): Promise<{ outcome: 'removed' | 'missing' } | { outcome: 'refused'; job: JobRecord }> {
    for (let attempt = 0; attempt < MAX_UPDATE_RETRIES; attempt++) {
      const raw = await redis.get(keys.job(id));
      if (raw === null) {
        // Gone already (another replica's sweep): its place in the retention line goes too.
        await redis.zrem(keys.finished, id);
        return { outcome: 'missing' };
      }
      const job = parseJobRecord(raw);
      if (!allow(job)) return { outcome: 'refused', job };
      const owner = ownerKey(job.createdBy);
      const removeKeys = [
        keys.job(id),
        keys.all,
        keys.byStatus(job.status),
        keys.byOwner(owner),
        keys.byOwnerStatus(owner, job.status),
        keys.finished,
        keys.deleted(id),
        ...jobDataKeys(keys, id),
      ];
      const removed = await redis.eval(REMOVE_SCRIPT, removeKeys.length, ...removeKeys, raw, id, String(IDEMPOTENCY_TTL_SECONDS));
      if (removed === 1) {
        publishJobChange(redis, options.namespace, id, 'job');
        return { outcome: 'removed' };
      }
    }
    throw new Error(`Job ${id} is changing too fast to remove`);
  }

  /** True when the job was deleted recently enough that an Idempotency-Key may still name it. */
  async function wasDeleted(id: string): Promise<boolean> {
    return (await redis.exists(keys.deleted(id))) === 1;
  }

  /** Moves an ended job to the back of the retention line (it may not go yet: see retention). */
  async function deferRetention(id: string, atMs: number): Promise<void> {
    await redis.zadd(keys.finished, 'XX', atMs, id);
  }

  /** Ids of jobs that ended before `beforeMs`, oldest first. */
  async function endedBefore(beforeMs: number, count: number): Promise<string[]> {
    return redis.zrangebyscore(keys.finished, '-inf', beforeMs, 'LIMIT', 0, count);
  }

  /**
   * Puts jobs made before tenants into the owner and retention indexes, once per namespace (a
   * marker records it). Safe beside running workers: each job is indexed only if unchanged.
   */
  async function backfillTenancyIndexes(batch = 500): Promise<number> {
    if ((await redis.exists(keys.tenancyBackfilled)) === 1) return 0;
    let indexed = 0;
    let after = '-';
    for (;;) {
      const ids = await redis.zrangebylex(keys.all, after, '+', 'LIMIT', 0, batch);
      if (ids.length === 0) break;
      const raws = await redis.mget(ids.map((id) => keys.job(id)));
      for (const [i, raw] of raws.entries()) {
        if (raw === null) continue;
        const job = parseJobRecord(raw);
        const owner = ownerKey(job.createdBy);
        const ended = isTerminal(job.status) ? String(Date.parse(job.finishedAt ?? job.updatedAt)) : '';
        const scriptKeys = [keys.job(job.id), keys.byOwner(owner), keys.byOwnerStatus(owner, job.status), keys.finished];
        indexed += Number(await redis.eval(BACKFILL_SCRIPT, scriptKeys.length, ...scriptKeys, raw, ids[i]!, ended));
      }
      after = `(${ids.at(-1)}`;
    }
    await redis.set(keys.tenancyBackfilled, new Date().toISOString());
    return indexed;
  }

  /** Raises a job's entry in its owner's spend ledger for `month` (`YYYY-MM`); returns the month's total. */
  async function recordSpend(createdBy: string | null, month: string, jobId: string, usd: number): Promise<number> {
    const total = await redis.eval(
      RECORD_SPEND_SCRIPT,
      1,
      keys.spend(ownerKey(createdBy), month),
      jobId,
      usd.toFixed(6),
      String(SPEND_LEDGER_TTL_SECONDS),
    );
    return Number(total);
  }

  /** A tenant's spend ledger for `month`: each job's recorded USD. */
  async function spendLedger(createdBy: string | null, month: string): Promise<Map<string, number>> {
    const entries = await redis.hgetall(keys.spend(ownerKey(createdBy), month));
    delete entries.total;
    return new Map(Object.entries(entries).map(([jobId, usd]) => [jobId, Number(usd)]));
  }

  /**
   * Reserves a client's Idempotency-Key (per `scope`, the caller) for `jobId` before the job is
   * created. Returns null when this call made the reservation, else the earlier one: a retry after a
   * lost answer (or a crash between reserving and creating) then finds the job it asked for.
   */
  async function reserveSubmission(scope: string, key: string, reservation: SubmissionReservation): Promise<SubmissionReservation | null> {
    const digest = idempotencyDigest(scope, key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const set = await redis.set(keys.idempotency(digest), JSON.stringify(reservation), 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX');
      if (set === 'OK') return null;
      const existing = await redis.get(keys.idempotency(digest));
      // Null: it expired between the two calls; reserve again.
      if (existing !== null) return JSON.parse(existing) as SubmissionReservation;
    }
    throw new Error('Could not reserve the idempotency key');
  }

  /** What an Idempotency-Key was reserved for, if it was (a replay is answered before any check). */
  async function findSubmission(scope: string, key: string): Promise<SubmissionReservation | null> {
    const raw = await redis.get(keys.idempotency(idempotencyDigest(scope, key)));
    return raw === null ? null : (JSON.parse(raw) as SubmissionReservation);
  }

  return {
    findSubmission,
    get,
    mustGet,
    create,
    update,
    appendEvent,
    events,
    eventPage,
    ...logs,
    list,
    countByStatus,
    oldestQueued,
    running,
    remove,
    wasDeleted,
    deferRetention,
    endedBefore,
    recordSpend,
    spendLedger,
    backfillTenancyIndexes,
    reserveSubmission,
  };
}

function idempotencyDigest(scope: string, key: string): string {
  return createHash('sha256').update(`${scope}\0${key}`).digest('hex');
}

function cleanEvent(event: EventInput): JobEvent {
  return { ...event, at: event.at ?? isoNow(), message: scrubSecrets(event.message) };
}

/** A helper for stage code: record an event in one call. */
export function stageEvent(stage: Stage, type: JobEventType, message: string, data?: Record<string, unknown>): Omit<JobEvent, 'at'> {
  return data === undefined ? { stage, type, message } : { stage, type, message, data };
}

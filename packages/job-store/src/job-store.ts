import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { JobNotFoundError, isoNow, scrubSecrets } from '@inno-train/core';
import { parseJobRecord, type JobEvent, type JobRecord, type NewJobRecord } from '@inno-train/schemas';
import type { JobStatus, Stage } from '@inno-train/workflow-constants';
import { storeKeys } from './keys';

export interface JobStoreOptions {
  redis: Redis;
  /** Key namespace, e.g. `inno-train` (tests use their own). */
  namespace: string;
  /** The stored log keeps only its last this-many bytes. */
  maxLogBytes?: number;
}

export interface ListOptions {
  status?: JobStatus;
  limit: number;
  after?: string;
}

/** Keeps only the last ARGV[2] bytes of the log after appending ARGV[1]. */
const APPEND_LOG_SCRIPT = `
local len = redis.call('APPEND', KEYS[1], ARGV[1])
local max = tonumber(ARGV[2])
if len > max then
  local tail = redis.call('GETRANGE', KEYS[1], len - max, -1)
  redis.call('SET', KEYS[1], tail)
  return max
end
return len`;

/**
 * Writes ARGV[2] only if the record still equals ARGV[1]; moves the id between status sets and
 * appends the change's events (ARGV[4..]) in the same step, so a change is never recorded
 * without its events nor an event without its change, whichever line the writer dies at.
 */
const COMPARE_AND_SET_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[3] then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], 0, ARGV[3])
end
if #ARGV > 3 then redis.call('RPUSH', KEYS[4], unpack(ARGV, 4)) end
return 1`;

/** An event as stages write it; `at` defaults to now. */
export type EventInput = Omit<JobEvent, 'at'> & { at?: string };

const MAX_UPDATE_RETRIES = 50;

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
  const maxLogBytes = options.maxLogBytes ?? 8 * 1024 * 1024;

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
    const result = await redis
      .multi()
      .set(keys.job(job.id), JSON.stringify(job), 'NX')
      .zadd(keys.all, 0, job.id)
      .zadd(keys.byStatus(job.status), 0, job.id)
      .rpush(keys.events(job.id), JSON.stringify(firstEvent))
      .exec();
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
  ): Promise<{ job: JobRecord; changed: boolean }> {
    for (let attempt = 0; attempt < MAX_UPDATE_RETRIES; attempt++) {
      const raw = await redis.get(keys.job(id));
      if (raw === null) throw new JobNotFoundError(id);
      const current = parseJobRecord(raw);
      const next = mutate(structuredClone(current));
      if (next === null) return { job: current, changed: false };
      next.updatedAt = isoNow();
      const lines = (typeof events === 'function' ? events(next) : events).map((event) => JSON.stringify(cleanEvent(event)));
      const written = await redis.eval(
        COMPARE_AND_SET_SCRIPT,
        4,
        keys.job(id),
        keys.byStatus(current.status),
        keys.byStatus(next.status),
        keys.events(id),
        raw,
        JSON.stringify(next),
        id,
        ...lines,
      );
      if (written === 1) return { job: next, changed: true };
    }
    throw new Error(`Job ${id} is changing too fast to update`);
  }

  async function appendEvent(id: string, event: EventInput): Promise<void> {
    await redis.rpush(keys.events(id), JSON.stringify(cleanEvent(event)));
  }

  async function events(id: string): Promise<JobEvent[]> {
    const raw = await redis.lrange(keys.events(id), 0, -1);
    return raw.map((line) => JSON.parse(line) as JobEvent);
  }

  async function appendLog(id: string, chunk: string): Promise<void> {
    if (chunk.length === 0) return;
    await redis.eval(APPEND_LOG_SCRIPT, 1, keys.log(id), chunk, String(maxLogBytes));
  }

  async function log(id: string): Promise<string> {
    return (await redis.get(keys.log(id))) ?? '';
  }

  /** Newest first; `after` is the last id of the previous page. */
  async function list(opts: ListOptions): Promise<{ jobs: JobRecord[]; hasMore: boolean }> {
    const key = opts.status ? keys.byStatus(opts.status) : keys.all;
    const max = opts.after ? `(${opts.after}` : '+';
    const ids = await redis.zrevrangebylex(key, max, '-', 'LIMIT', 0, opts.limit + 1);
    const page = ids.slice(0, opts.limit);
    const raw = page.length ? await redis.mget(page.map((id) => keys.job(id))) : [];
    const jobs = raw.filter((r): r is string => r !== null).map(parseJobRecord);
    return { jobs, hasMore: ids.length > opts.limit };
  }

  /**
   * Reserves a client's Idempotency-Key (per `scope`, the caller) for `jobId` before the job is
   * created. Returns null when this call made the reservation, else the earlier one: a retry after a
   * lost answer (or a crash between reserving and creating) then finds the job it asked for.
   */
  async function reserveSubmission(scope: string, key: string, reservation: SubmissionReservation): Promise<SubmissionReservation | null> {
    const digest = createHash('sha256').update(`${scope}\0${key}`).digest('hex');
    for (let attempt = 0; attempt < 3; attempt++) {
      const set = await redis.set(keys.idempotency(digest), JSON.stringify(reservation), 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX');
      if (set === 'OK') return null;
      const existing = await redis.get(keys.idempotency(digest));
      // Null: it expired between the two calls; reserve again.
      if (existing !== null) return JSON.parse(existing) as SubmissionReservation;
    }
    throw new Error('Could not reserve the idempotency key');
  }

  return { get, mustGet, create, update, appendEvent, events, appendLog, log, list, reserveSubmission };
}

function cleanEvent(event: EventInput): JobEvent {
  return { ...event, at: event.at ?? isoNow(), message: scrubSecrets(event.message) };
}

/** A helper for stage code: record an event in one call. */
export function stageEvent(stage: Stage, type: string, message: string, data?: Record<string, unknown>): Omit<JobEvent, 'at'> {
  return data === undefined ? { stage, type, message } : { stage, type, message, data };
}

/**
 * Listing jobs, newest first, by the indexes (status, owner, creation time: job ids begin with
 * their creation time, so an id range is a time range) and then by what only the record knows
 * (name, metadata). A record filter looks at a bounded number of jobs per call, so a page can come
 * back short with `hasMore` and a `nextAfter` past its last job: the caller goes on from there.
 */
import { parseJobRecord, type JobRecord } from '@inno-train/schemas';
import type { JobStatus } from '@inno-train/workflow-constants';
import type { Redis } from 'ioredis';
import { ownerKey, type storeKeys } from './keys';

export interface ListOptions {
  status?: JobStatus;
  /** Jobs in any of these statuses (with `status`, both count). */
  statuses?: JobStatus[];
  /** Only this tenant's jobs. */
  createdBy?: string;
  name?: string;
  /** Every entry must be in the job's metadata with this value. */
  metadata?: Record<string, string>;
  /** Created at or after this time (ms since the epoch). */
  createdAfter?: number;
  /** Created before this time (ms since the epoch). */
  createdBefore?: number;
  limit: number;
  /** Start after this job id (the previous page's `nextAfter`). */
  after?: string;
  /** Records looked at per call when filtering by name or metadata (default 2000). */
  scanBudget?: number;
}

export interface ListPage {
  jobs: JobRecord[];
  hasMore: boolean;
  /** Where the next page starts (null when nothing more can match). */
  nextAfter: string | null;
}

const DEFAULT_SCAN_BUDGET = 2000;
const SCAN_BATCH = 200;

/** The id prefix of a job created at `ms` (ids are `j` + the time in base 36, 10 digits). */
function idPrefixAt(ms: number): string {
  return `j${Math.max(0, Math.floor(ms)).toString(36).padStart(10, '0')}`;
}

/** The exclusive upper bound of the range: the tighter of `after` and `createdBefore`. */
function upperBound(opts: ListOptions): string {
  const bounds = [opts.after, opts.createdBefore === undefined ? undefined : idPrefixAt(opts.createdBefore)].filter(
    (bound): bound is string => bound !== undefined,
  );
  if (bounds.length === 0) return '+';
  return `(${bounds.sort()[0]}`;
}

function indexKeys(keys: ReturnType<typeof storeKeys>, opts: ListOptions): string[] {
  const statuses = [...new Set([...(opts.status ? [opts.status] : []), ...(opts.statuses ?? [])])];
  const owner = opts.createdBy === undefined ? null : ownerKey(opts.createdBy);
  if (statuses.length === 0) return [owner === null ? keys.all : keys.byOwner(owner)];
  return statuses.map((status) => (owner === null ? keys.byStatus(status) : keys.byOwnerStatus(owner, status)));
}

function matchesRecord(job: JobRecord, opts: ListOptions): boolean {
  if (opts.name !== undefined && job.name !== opts.name) return false;
  for (const [key, value] of Object.entries(opts.metadata ?? {})) if (job.metadata[key] !== value) return false;
  return true;
}

/**
 * Ids in the indexes, newest first, below `max` and at or above `min`: the first `count` of all the
 * indexes merged (each gives its own first `count`, so the merged first `count` are exact).
 */
async function idsBelow(redis: Redis, indexes: string[], max: string, min: string, count: number): Promise<string[]> {
  if (indexes.length === 1) return redis.zrevrangebylex(indexes[0]!, max, min, 'LIMIT', 0, count);
  const pipeline = redis.pipeline();
  for (const index of indexes) pipeline.zrevrangebylex(index, max, min, 'LIMIT', 0, count);
  const results = (await pipeline.exec()) ?? [];
  const merged = new Set(results.flatMap(([, value]) => (Array.isArray(value) ? (value as string[]) : [])));
  return [...merged].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).slice(0, count);
}

async function recordsOf(redis: Redis, keys: ReturnType<typeof storeKeys>, ids: string[]): Promise<JobRecord[]> {
  const raw = ids.length ? await redis.mget(ids.map((id) => keys.job(id))) : [];
  return raw.filter((r): r is string => r !== null).map(parseJobRecord);
}

export async function listJobs(redis: Redis, keys: ReturnType<typeof storeKeys>, opts: ListOptions): Promise<ListPage> {
  const indexes = indexKeys(keys, opts);
  const min = opts.createdAfter === undefined ? '-' : `[${idPrefixAt(opts.createdAfter)}`;
  const filtered = opts.name !== undefined || Object.keys(opts.metadata ?? {}).length > 0;
  if (!filtered) {
    const ids = await idsBelow(redis, indexes, upperBound(opts), min, opts.limit + 1);
    const jobs = await recordsOf(redis, keys, ids.slice(0, opts.limit));
    const hasMore = ids.length > opts.limit;
    return { jobs, hasMore, nextAfter: hasMore ? (ids[opts.limit - 1] ?? null) : null };
  }
  return scanFiltered(redis, keys, indexes, min, opts);
}

/** Looks through at most `scanBudget` jobs for `limit` + 1 that match the record filters. */
async function scanFiltered(
  redis: Redis,
  keys: ReturnType<typeof storeKeys>,
  indexes: string[],
  min: string,
  opts: ListOptions,
): Promise<ListPage> {
  const budget = opts.scanBudget ?? DEFAULT_SCAN_BUDGET;
  const matches: JobRecord[] = [];
  let max = upperBound(opts);
  let scanned = 0;
  let lastScanned: string | null = null;
  while (scanned < budget) {
    const ids = await idsBelow(redis, indexes, max, min, Math.min(SCAN_BATCH, budget - scanned));
    if (ids.length === 0) return { jobs: matches, hasMore: false, nextAfter: null };
    for (const job of await recordsOf(redis, keys, ids)) {
      if (!matchesRecord(job, opts)) continue;
      if (matches.length === opts.limit) return { jobs: matches, hasMore: true, nextAfter: matches.at(-1)!.id };
      matches.push(job);
    }
    scanned += ids.length;
    lastScanned = ids.at(-1)!;
    max = `(${lastScanned}`;
  }
  // The budget ran out: more may match further on, and the next call starts where this one stopped.
  return { jobs: matches, hasMore: true, nextAfter: lastScanned };
}

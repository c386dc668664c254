import type { Redis } from 'ioredis';
import { isoNow } from '@inno-train/core';
import { METRIC_SERIES_LIMITS, metricPointSchema, type MetricPoint } from '@inno-train/schemas';
import { storeKeys } from './keys';
import { APPEND_METRICS_SCRIPT } from './metrics-script';

export interface MetricsStoreOptions {
  redis: Redis;
  /** Key namespace, the job store's (deleting a job deletes its series: see jobDataKeys). */
  namespace: string;
  /** Points per job before the series is thinned; @defaultValue METRIC_SERIES_LIMITS.maxPoints */
  maxPoints?: number;
  /** Bytes of stored points per job before the series is thinned; @defaultValue METRIC_SERIES_LIMITS.maxBytes */
  maxBytes?: number;
}

/** A metrics record as the training printed it: its step and its other numeric fields. */
export interface MetricRecord {
  step: number;
  values: Record<string, number>;
}

/** What one append did: points new to the series, merged into a stored step, or left out by the stride. */
export interface AppendOutcome {
  added: number;
  merged: number;
  skipped: number;
  /** 1 while every record is kept; n once the series keeps one record in n. */
  stride: number;
  /** How many times this append halved the series (each time, one `training` event says so). */
  thinned: number;
}

export interface MetricsPage {
  points: MetricPoint[];
  hasMore: boolean;
  stride: number;
  /** Points the series holds now. */
  total: number;
}

export type MetricsStore = ReturnType<typeof createMetricsStore>;

/** Points per script call: one call stays short however large the chunk the monitor read. */
const POINTS_PER_CALL = 1000;

/**
 * A job's metric series in Redis: one point per step, in step order.
 *
 * - **The same step twice** (the monitor re-reads a chunk after a crash, or a script prints
 *   `{"step": 100, "eval_loss": ...}` after `{"step": 100, "loss": ...}`): one point; the later
 *   record's values win name by name, the others stay, and `at` stays the first read time. Reading
 *   a chunk again therefore changes nothing.
 * - **The bound**: past `maxPoints` points or `maxBytes` bytes the series is halved (every second
 *   point goes, the first stays) and only every second new step is kept from then on (then every
 *   fourth, ...): the whole run stays visible at an even resolution, never more than the bound.
 *   Each halving is one `training` event on the job, written in the same atomic step.
 * - A record keeps at most METRIC_SERIES_LIMITS.maxValues values, each name at most maxNameLength
 *   characters (and none named `__proto__`); further fields are ignored, so a point's size is
 *   bounded before it is stored.
 */
export function createMetricsStore(options: MetricsStoreOptions) {
  const { redis } = options;
  const keys = storeKeys(options.namespace);
  const maxPoints = options.maxPoints ?? METRIC_SERIES_LIMITS.maxPoints;
  const maxBytes = options.maxBytes ?? METRIC_SERIES_LIMITS.maxBytes;

  /** Appends records read at `at` (ISO 8601; default now), in the order the training printed them. */
  async function append(id: string, records: MetricRecord[], at: string = isoNow()): Promise<AppendOutcome> {
    const outcome: AppendOutcome = { added: 0, merged: 0, skipped: 0, stride: 1, thinned: 0 };
    const points = collapse(records);
    if (points.length === 0) {
      outcome.stride = await strideOf(id);
      return outcome;
    }
    for (let i = 0; i < points.length; i += POINTS_PER_CALL) {
      const argv = points.slice(i, i + POINTS_PER_CALL).flatMap((point) => [String(point.step), JSON.stringify({ ...point, at })]);
      const scriptKeys = [keys.metrics(id), keys.metricsState(id), keys.events(id)];
      const limits = [String(maxPoints), String(maxBytes), String(METRIC_SERIES_LIMITS.maxValues), at];
      const result = (await redis.eval(APPEND_METRICS_SCRIPT, scriptKeys.length, ...scriptKeys, ...limits, ...argv)) as number[];
      outcome.added += Number(result[0]);
      outcome.merged += Number(result[1]);
      outcome.skipped += Number(result[2]);
      outcome.stride = Number(result[3]);
      outcome.thinned += Number(result[4]);
    }
    return outcome;
  }

  /** Up to `limit` points with a step above `after` (undefined: from the first), by step. */
  async function page(id: string, after: number | undefined, limit: number): Promise<MetricsPage> {
    const min = after === undefined ? '-inf' : `(${after}`;
    const results = await redis
      .multi()
      .zrangebyscore(keys.metrics(id), min, '+inf', 'LIMIT', 0, limit + 1)
      .hget(keys.metricsState(id), 'stride')
      .zcard(keys.metrics(id))
      .exec();
    if (!results) throw new Error(`Reading the metric series of job ${id} was aborted`);
    for (const [error] of results) if (error) throw error;
    const raw = results[0]![1] as string[];
    // A point read from Redis is unknown until the schema says otherwise.
    const points = raw.slice(0, limit).map((line) => metricPointSchema.parse(JSON.parse(line)));
    return { points, hasMore: raw.length > limit, stride: strideFrom(results[1]![1]), total: Number(results[2]![1]) };
  }

  /** Points the series holds now. */
  async function count(id: string): Promise<number> {
    return redis.zcard(keys.metrics(id));
  }

  async function strideOf(id: string): Promise<number> {
    return strideFrom(await redis.hget(keys.metricsState(id), 'stride'));
  }

  return { append, page, count };
}

function strideFrom(raw: unknown): number {
  const stride = Number(raw ?? 1);
  return Number.isInteger(stride) && stride >= 1 ? stride : 1;
}

/**
 * Records as points: invalid steps dropped, values cut to the limits, and records of one step
 * merged (later wins), in first-seen order.
 */
function collapse(records: MetricRecord[]): { step: number; values: Record<string, number> }[] {
  const byStep = new Map<number, Map<string, number>>();
  for (const record of records) {
    if (typeof record.step !== 'number' || !Number.isFinite(record.step)) continue;
    const values = byStep.get(record.step) ?? new Map<string, number>();
    for (const [name, value] of Object.entries(record.values)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || name === 'step') continue;
      // `__proto__` would come back from JSON.parse and zod as an object's prototype, not a value.
      if (name.length > METRIC_SERIES_LIMITS.maxNameLength || name === '__proto__') continue;
      if (!values.has(name) && values.size >= METRIC_SERIES_LIMITS.maxValues) continue;
      values.set(name, value);
    }
    byStep.set(record.step, values);
  }
  return [...byStep].map(([step, values]) => ({ step, values: Object.fromEntries(values) }));
}

/**
 * A job's metric series: every metrics line the training printed (a JSON object with a numeric
 * `step`), one point per step, kept for the job's lifetime within the bounds below. The job store
 * keeps it (createMetricsStore), the monitor appends to it, GET /v1/jobs/:id/metrics pages it.
 */
import { z } from 'zod';

/**
 * What one job's series may hold. Past `maxPoints` points (or `maxBytes` of stored points, for
 * scripts that print very wide lines) the series is thinned, not cut: every second point is
 * removed and from then on only every second new record is kept (then every fourth, ...), so a
 * long run still shows its whole curve, start to end, at an even, coarser resolution. A cut
 * would have lost the end of training, the part a curve is usually looked at for.
 */
export const METRIC_SERIES_LIMITS = {
  /** Points kept per job before the series is thinned. */
  maxPoints: 100_000,
  /** Bytes of stored points per job before the series is thinned (16 MiB). */
  maxBytes: 16 * 1024 * 1024,
  /** Values per point: a record's further fields are ignored. */
  maxValues: 64,
  /** Characters of a value's name: fields with longer names are ignored. */
  maxNameLength: 64,
} as const;

export const metricPointSchema = z.object({
  step: z.number().describe("the record's `step`: one point per step (a second record with the same step merges into it)"),
  at: z.string().describe('when the service first read a record of this step (ISO 8601)'),
  values: z
    .record(z.string(), z.number())
    .describe("every other numeric field of the record, under the name the script printed; a later record's value wins"),
});

/** A page of a job's metric series, by step. */
export const jobMetricsPageSchema = z.object({
  data: z.array(metricPointSchema).describe('points after `after`, by step, at most `limit`'),
  hasMore: z.boolean().describe('more points follow: ask again with after = the last step'),
  stride: z
    .number()
    .int()
    .min(1)
    .describe(
      `1 while every metrics record is kept; n once the series outgrew ${METRIC_SERIES_LIMITS.maxPoints} points ` +
        `(or ${METRIC_SERIES_LIMITS.maxBytes / (1024 * 1024)} MiB) and was thinned to about every n-th record`,
    ),
  total: z.number().int().min(0).describe('points the series holds now'),
});

/** GET /v1/jobs/:id/metrics's query. */
export const jobMetricsQuerySchema = z.strictObject({
  after: z.coerce.number().optional().describe('the last step already seen: the page starts after it (absent: from the first step)'),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});

export type MetricPoint = z.infer<typeof metricPointSchema>;
export type JobMetricsPage = z.infer<typeof jobMetricsPageSchema>;
export type JobMetricsQuery = z.infer<typeof jobMetricsQuerySchema>;

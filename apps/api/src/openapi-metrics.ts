/** The OpenAPI path item of GET /v1/jobs/{id}/metrics (openapi.ts spreads it into `paths`). */
import { jobMetricsQuerySchema, METRIC_SERIES_LIMITS } from '@inno-train/schemas';
import { errors, json, JOB_ID_PARAMETER, queryParameters, schemaRef, success, type OpenApiPathItem } from './openapi-parts';

const { maxPoints, maxBytes, maxValues, maxNameLength } = METRIC_SERIES_LIMITS;

const DESCRIPTION = [
  'Every metrics line the training printed (a JSON object with a numeric `step`) is a point of the series: ' +
    '`values` holds its other numeric fields, `at` when the service read it. Pages of `limit` points by step; ' +
    'pass the last step as `after` for the next page while `hasMore`.',
  'One point per step: a second record with the same step merges into it (its values win name by name; `at` stays).',
  `The series is bounded: past ${maxPoints} points (or ${maxBytes / (1024 * 1024)} MiB) it is thinned, every second point ` +
    'removed and only every second new record kept from then on (then every fourth, ...), so the whole run stays ' +
    'at an even resolution; `stride` says which (1: every record), and each thinning is a `training` event on the job. ' +
    `A point keeps at most ${maxValues} values with names up to ${maxNameLength} characters.`,
].join('\n\n');

export function metricsPaths(): Record<string, OpenApiPathItem> {
  return {
    '/v1/jobs/{id}/metrics': {
      get: {
        operationId: 'listJobMetrics',
        summary: "The job's metric series, by step, a page at a time",
        description: DESCRIPTION,
        tags: ['jobs'],
        parameters: [JOB_ID_PARAMETER, ...queryParameters(jobMetricsQuerySchema)],
        responses: { '200': success('Points after `after`', json(schemaRef('JobMetrics'))), ...errors([404]) },
      },
    },
  };
}

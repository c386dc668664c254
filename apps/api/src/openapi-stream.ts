/** The OpenAPI path item of GET /v1/jobs/{id}/stream (openapi.ts spreads it into `paths`). */
import { errorResponse, errors, JOB_ID_PARAMETER, RATE_LIMIT_HEADERS, retryAfter, success, type OpenApiPathItem } from './openapi-parts';
import { DEFAULT_STREAM_LIMITS, DEFAULT_STREAM_TIMINGS } from './stream-hub';
import { LOG_CHUNK_BYTES } from './stream-cursor';

const DESCRIPTION = [
  'The job live, as server-sent events. Each message is `event: <name>` with one line of JSON as `data`:',
  [
    '- `status`: `{"status"}` when the job\'s status differs from the last one sent (the first message of a new stream);',
    '- `progress`: the latest metrics record (as `progress` of the job) when it changed;',
    '- `event`: one job event, as `GET /v1/jobs/{id}/events` lists it (with its `id`), every one in order;',
    `- \`log\`: \`{"offset", "text"}\`, new output from byte \`offset\` of everything the job printed, at most ${LOG_CHUNK_BYTES / 1024} KiB ` +
      "a message (an `offset` past the end of the previous text means the service's last-8-MiB copy lost bytes before they were sent);",
    '- `end`: `{"status", "settledAt"}` once the job is settled (everything before it was sent); then the stream closes.',
  ].join('\n'),
  'Every message has an `id:`. A client that reconnects, to any replica, with `Last-Event-ID` gets everything after ' +
    'that message, with no gap and nothing twice; after `end` the answer is 204, which tells EventSource to stop. ' +
    `A \`: ping\` comment comes every ${DEFAULT_STREAM_TIMINGS.heartbeatMs / 1000} s, so proxies keep a quiet stream open.`,
  `An API process serves up to ${DEFAULT_STREAM_LIMITS.perTenant} streams per key (429 \`too_many_streams\` past it) and ` +
    `${DEFAULT_STREAM_LIMITS.perProcess} in all (503: try again, another replica may have room).`,
].join('\n\n');

export function streamPaths(): Record<string, OpenApiPathItem> {
  return {
    '/v1/jobs/{id}/stream': {
      get: {
        operationId: 'streamJob',
        summary: 'Follow a job live: status, progress, events and log as server-sent events',
        description: DESCRIPTION,
        tags: ['jobs'],
        parameters: [
          JOB_ID_PARAMETER,
          {
            name: 'Last-Event-ID',
            in: 'header',
            required: false,
            description: 'the `id` of the last message received, to resume after it (EventSource sends it when it reconnects)',
            schema: { type: 'string', pattern: '^\\d+\\.\\d+\\.([a-z_]+|-)\\.([0-9a-f]{12}|-)(\\.end)?$' },
          },
        ],
        responses: {
          '200': success('The stream, until the job is settled (then `end`) or the client leaves', {
            'text/event-stream': { schema: { type: 'string' } },
          }),
          '204': success("Last-Event-ID is the stream's `end`: nothing more will come"),
          ...errors([404]),
          '429': errorResponse(
            "The key's requests per minute are spent, or it has as many streams open on this API process as it may",
            ['rate_limited', 'too_many_streams'],
            { ...RATE_LIMIT_HEADERS, ...retryAfter('seconds until trying again') },
          ),
        },
      },
    },
  };
}

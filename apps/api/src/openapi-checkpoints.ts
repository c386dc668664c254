/** The OpenAPI path item of GET /v1/jobs/{id}/checkpoints (openapi.ts spreads it into `paths`). */
import { errors, json, JOB_ID_PARAMETER, schemaRef, success, type OpenApiPathItem } from './openapi-parts';

const DESCRIPTION = [
  "The entries of the job's CHECKPOINT_DIR synced to `<outputUri>checkpoints/<name>/` while it trained, oldest first. " +
    'An entry is synced once it is complete: it holds a `.complete` marker file, or its listing (names, sizes, mtimes) ' +
    'did not change between two listings `checkpoint.syncSeconds` apart. `step` is the trailing number of the name, ' +
    'when there is one; `at` is when the upload was verified in S3. Entries the script deleted stay listed (and in S3).',
].join('\n\n');

export function checkpointPaths(): Record<string, OpenApiPathItem> {
  return {
    '/v1/jobs/{id}/checkpoints': {
      get: {
        operationId: 'listJobCheckpoints',
        summary: "The job's checkpoints synced to S3",
        description: DESCRIPTION,
        tags: ['jobs'],
        parameters: [JOB_ID_PARAMETER],
        responses: { '200': success('The synced checkpoints', json(schemaRef('JobCheckpoints'))), ...errors([404]) },
      },
    },
  };
}

/** The OpenAPI path items of a job's checkpoints (openapi.ts spreads them into `paths`). */
import { OUTPUT_LINK_SECONDS } from './outputs';
import {
  errorResponse,
  errors,
  json,
  JOB_ID_PARAMETER,
  RATE_LIMIT_HEADERS,
  schemaRef,
  success,
  type OpenApiPathItem,
} from './openapi-parts';

const DESCRIPTION = [
  "The entries of the job's CHECKPOINT_DIR synced to `<outputUri>checkpoints/<name>/` while it trained, oldest first. " +
    'An entry is synced once it is complete: it holds a `.complete` marker file, or its listing (names, sizes, mtimes) ' +
    'did not change between two listings `checkpoint.syncSeconds` apart. `step` is the trailing number of the name, ' +
    'when there is one; `at` is when the upload was verified in S3. Entries the script deleted stay listed (and in S3).',
].join('\n\n');

const DOWNLOAD_DESCRIPTION =
  `Every file of the checkpoint, as S3 holds it now, each with a presigned GET valid for ${OUTPUT_LINK_SECONDS} s ` +
  '(`expiresAt`; ask again for fresh links): the bytes come from S3, not through the API. Fetch the URLs without ' +
  'the Authorization header (each carries its own signature). JSON, not a redirect, for both kinds of entry: a ' +
  'directory is several objects. `path` is the file within a directory entry, or the entry name for a file entry. ' +
  '`404 checkpoint_not_found` for a name the job has not synced (GET /v1/jobs/{id}/checkpoints lists them) or whose ' +
  'files are gone from S3.';

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
    '/v1/jobs/{id}/checkpoints/{name}/download': {
      get: {
        operationId: 'downloadJobCheckpoint',
        summary: "One checkpoint's files, each with a presigned S3 GET",
        description: DOWNLOAD_DESCRIPTION,
        tags: ['outputs'],
        parameters: [
          JOB_ID_PARAMETER,
          { name: 'name', in: 'path', required: true, description: 'the checkpoint name, as listed', schema: { type: 'string' } },
        ],
        responses: {
          '200': success('The files and their links', json(schemaRef('JobCheckpointDownload')), {
            'Cache-Control': { description: 'no-store: the links are short-lived credentials', required: true, schema: { type: 'string' } },
          }),
          ...errors([]),
          '404': errorResponse(
            'No such job, or the job has no such checkpoint (or its files are gone from S3)',
            ['job_not_found', 'checkpoint_not_found'],
            RATE_LIMIT_HEADERS,
          ),
        },
      },
    },
  };
}

/** The client's calls for a job's checkpoints (part of createClient's `jobs`). */
import { checkpointDownloadSchema, checkpointListSchema } from '@inno-train/schemas';
import { checkpointDownloadPath, jobPath } from './paths';
import type { Call } from './transport';
import type { CallOptions, CheckpointDownload, CheckpointList, ResponseSchema } from './types';

export interface CheckpointsApi {
  /** The job's checkpoints synced to S3, oldest first: `{data: [{name, step?, at, uri, bytes, files}]}`. */
  checkpoints(id: string, options?: CallOptions): Promise<CheckpointList>;
  /**
   * Every file of checkpoint `name` (as `checkpoints` lists it), each with a presigned S3 URL that
   * works until `expiresAt` (a few minutes; call again for fresh ones): `{name, kind, files: [{path,
   * size, url}], expiresAt}`. Fetch the URLs without the API key. A name the job has not synced, or
   * whose files are gone from S3: InnoTrainError `checkpoint_not_found`.
   */
  checkpointDownload(id: string, name: string, options?: CallOptions): Promise<CheckpointDownload>;
}

/** The checkpoint calls; `json` is the client's checked JSON call. */
export function checkpointsApi(json: <T>(call: Call, schema: ResponseSchema) => Promise<T>): CheckpointsApi {
  return {
    checkpoints: (id, call = {}) =>
      json<CheckpointList>({ method: 'GET', path: jobPath(id, '/checkpoints'), signal: call.signal }, checkpointListSchema),
    // async: a bad name rejects the promise, as every other failure of the call does.
    checkpointDownload: async (id, name, call = {}) =>
      json<CheckpointDownload>({ method: 'GET', path: checkpointDownloadPath(id, name), signal: call.signal }, checkpointDownloadSchema),
  };
}

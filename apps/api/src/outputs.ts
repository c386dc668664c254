/**
 * A job's outputs as the API shows them: paths under the job's outputUri, a page at a time, and a
 * download as a redirect to a short-lived presigned GET, so the bytes go from S3 to the client and
 * never through the API.
 */
import type { Request, Response } from 'express';
import { jobOutputQuerySchema, type JobOutput, type JobRecord } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import { HttpError } from './http-error';
import { parseQuery } from './query';

/** The S3 call a download needs: a presigned GET, nothing else. */
export interface OutputLinker {
  presignGet(bucket: string, key: string, expiresSeconds?: number): Promise<string>;
}

/** How long a download link works: long enough to start a big download, short enough not to be shared. */
export const OUTPUT_LINK_SECONDS = 300;

/** The job's outputs in path order; a key outside the output prefix (never written so) keeps its whole key as path. */
export function outputsOf(job: JobRecord): JobOutput[] {
  const { bucket, key: prefix } = parseS3Uri(job.spec.outputUri);
  return job.outputs
    .map((output) => ({
      path: output.key.startsWith(prefix) ? output.key.slice(prefix.length) : output.key,
      uri: `s3://${bucket}/${output.key}`,
      size: output.size,
    }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** GET /v1/jobs/:id/outputs: a page of outputs after the path `after`. */
export function sendOutputPage(job: JobRecord, req: Request, res: Response): void {
  const { after, limit } = parseQuery(jobOutputQuerySchema, req);
  const rest = outputsOf(job).filter((output) => after === undefined || output.path > after);
  res.json({ data: rest.slice(0, limit), hasMore: rest.length > limit });
}

/** The output path of GET /v1/jobs/:id/outputs/*path (Express has decoded each segment). */
export function requestedPath(req: Request): string {
  const raw: unknown = (req.params as Record<string, unknown>).path;
  return Array.isArray(raw) ? raw.map(String).join('/') : String(raw ?? '');
}

/** GET /v1/jobs/:id/outputs/*path: 302 to a presigned GET of that output. */
export async function redirectToOutput(linker: OutputLinker, job: JobRecord, path: string, res: Response): Promise<void> {
  const output = outputsOf(job).find((candidate) => candidate.path === path);
  if (!output) {
    throw new HttpError(404, 'output_not_found', `Job ${job.id} has no output ${JSON.stringify(path.slice(0, 256))}`);
  }
  const { bucket, key } = parseS3Uri(output.uri);
  const url = await linker.presignGet(bucket, key, OUTPUT_LINK_SECONDS);
  // The link is a credential for a few minutes: no cache may keep it.
  // No body: Express's "Redirecting to <url>" would copy the link where logs and proxies keep bodies.
  res.set('Cache-Control', 'no-store').set('Location', url).status(302).end();
}

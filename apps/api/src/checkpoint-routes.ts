import { Router } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { toPublicCheckpoint, type CheckpointDownload, type CheckpointList, type JobRecord } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import { HttpError } from './http-error';
import { loadJob } from './load-job';
import { OUTPUT_LINK_SECONDS, type OutputLinker } from './outputs';

/** What a checkpoint's download needs of S3: its objects' keys and sizes, and a presigned GET for each. */
export interface CheckpointLinker extends OutputLinker {
  listPrefix(bucket: string, prefix: string): Promise<{ key: string; size: number }[]>;
}

/**
 * GET /jobs/:id/checkpoints (under /v1): the job's checkpoints synced to S3, oldest first, and
 * GET /jobs/:id/checkpoints/:name/download: one checkpoint's files with presigned links. Owner-scoped
 * like every job route (loadJob): another tenant's job is a 404.
 */
export function checkpointRoutes(deps: { store: JobStore; storage: CheckpointLinker }): Router {
  const router = Router({ caseSensitive: true });
  router.get('/jobs/:id/checkpoints', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const body: CheckpointList = { data: job.checkpoints.map(toPublicCheckpoint) };
    res.json(body);
  });
  router.get('/jobs/:id/checkpoints/:name/download', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const body = await checkpointDownload(deps.storage, job, String(req.params.name));
    // The links are credentials for a few minutes: no cache may keep them.
    res.set('Cache-Control', 'no-store').json(body);
  });
  return router;
}

/**
 * Every file of checkpoint `name` as S3 has it now, each with a presigned GET. JSON rather than a
 * redirect: a directory entry is several objects, and one answer shape serves both kinds. The record
 * keeps only the entry's URI and totals, so the files are listed from S3, as stage-in's restore does.
 */
async function checkpointDownload(storage: CheckpointLinker, job: JobRecord, name: string): Promise<CheckpointDownload> {
  const shown = JSON.stringify(name.slice(0, 256));
  const checkpoint = job.checkpoints.find((candidate) => candidate.name === name);
  if (!checkpoint) {
    throw new HttpError(
      404,
      'checkpoint_not_found',
      `Job ${job.id} has synced no checkpoint ${shown} (GET /v1/jobs/${job.id}/checkpoints lists them)`,
    );
  }
  const { bucket, key } = parseS3Uri(checkpoint.uri);
  const kind = checkpoint.uri.endsWith('/') ? 'dir' : 'file';
  // Keys ending in "/" are folder placeholders; a file entry is its own key only (not `model.pt.bak` beside it).
  const objects = (await storage.listPrefix(bucket, key))
    .filter((object) => (kind === 'dir' ? !object.key.endsWith('/') && object.key.length > key.length : object.key === key))
    .map((object) => ({ key: object.key, path: kind === 'dir' ? object.key.slice(key.length) : name, size: object.size }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (objects.length === 0) {
    throw new HttpError(404, 'checkpoint_not_found', `Checkpoint ${shown} of job ${job.id} is no longer in S3 (${checkpoint.uri})`);
  }
  const expiresAt = new Date(Date.now() + OUTPUT_LINK_SECONDS * 1000).toISOString();
  const files = await Promise.all(
    objects.map(async (object) => ({
      path: object.path,
      size: object.size,
      url: await storage.presignGet(bucket, object.key, OUTPUT_LINK_SECONDS),
    })),
  );
  return { name, kind, files, expiresAt };
}

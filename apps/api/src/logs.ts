import type { Request, Response } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { jobLogQuerySchema, type JobRecord } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import { HttpError } from './http-error';
import { OUTPUT_LINK_SECONDS, type OutputLinker } from './outputs';
import { parseQuery } from './query';

export interface LogDeps {
  store: JobStore;
  /** Presigns the GET of the archived log (the job's whole train.log in the service's bucket). */
  storage: OutputLinker;
}

/**
 * The job's output from `?offset=` or a `Range: bytes=N-` (206), with where it starts, how much the
 * job printed in all, and whether the stored tail no longer holds the beginning.
 *
 * The stored copy (Redis) keeps the last 8 MiB. Once stage-out has archived the whole train.log
 * (`logArchive.archivedAt`), a request the stored copy cannot answer in full (the bytes asked for
 * were cut, or it holds fewer bytes than the archive) of a job that never moved hosts is a 302 to a short-lived presigned GET of
 * the archive instead; a `Range: bytes=N-` goes along with the redirect and S3 answers it (206).
 * Everything else is answered from the stored copy as before, so a tailer's last poll is unchanged.
 */
export async function sendLog(deps: LogDeps, job: JobRecord, req: Request, res: Response): Promise<void> {
  const { offset } = parseQuery(jobLogQuerySchema, req);
  const range = req.headers.range === undefined ? null : /^bytes=(\d+)-$/.exec(req.headers.range);
  if (req.headers.range !== undefined && !range) {
    throw new HttpError(400, 'invalid_request', 'Only a Range of the form bytes=N- is supported', [
      { path: 'Range', message: 'use bytes=N-' },
    ]);
  }
  const from = range ? Number(range[1]) : (offset ?? 0);
  const log = await deps.store.logFrom(job.id, from);
  // The archive is the last host's train.log: after a restart on a new host, its offsets are not the
  // stored copy's (which counts every host's output), so such a job is answered from Redis only.
  const archive = job.logArchive?.archivedAt && job.hostRestarts === 0 ? job.logArchive : null;
  const whole = log.start === Math.min(from, log.size);
  if (archive && (!whole || archive.size > log.size)) {
    const { bucket, key } = parseS3Uri(archive.uri);
    const url = await deps.storage.presignGet(bucket, key, OUTPUT_LINK_SECONDS);
    // As for outputs: the link is a credential for minutes (no cache keeps it), and no body repeats it.
    res.set({ 'X-Log-Size': String(archive.size), 'Cache-Control': 'no-store', Location: url });
    return void res.status(302).end();
  }
  res.set({ 'X-Log-Size': String(log.size), 'X-Log-Offset': String(log.start), 'X-Log-Truncated': String(log.truncated) });
  res.set('Accept-Ranges', 'bytes');
  if (range && from >= log.size && log.size > 0) {
    res.set('Content-Range', `bytes */${log.size}`);
    throw new HttpError(416, 'range_not_satisfiable', `The log has ${log.size} bytes; a range must start before that`);
  }
  res.type('text/plain; charset=utf-8');
  if (!range) return void res.send(log.text);
  if (log.text.length > 0) res.set('Content-Range', `bytes ${log.start}-${log.start + log.text.length - 1}/${log.size}`);
  res.status(log.text.length > 0 ? 206 : 200).send(log.text);
}

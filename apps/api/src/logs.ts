import type { Request, Response } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { jobLogQuerySchema } from '@inno-train/schemas';
import { HttpError } from './http-error';
import { parseQuery } from './query';

/**
 * The job's output from `?offset=` or a `Range: bytes=N-` (206), with where it starts, how much the
 * job printed in all, and whether the stored tail no longer holds the beginning.
 */
export async function sendLog(store: JobStore, jobId: string, req: Request, res: Response): Promise<void> {
  const { offset } = parseQuery(jobLogQuerySchema, req);
  const range = req.headers.range === undefined ? null : /^bytes=(\d+)-$/.exec(req.headers.range);
  if (req.headers.range !== undefined && !range) {
    throw new HttpError(400, 'invalid_request', 'Only a Range of the form bytes=N- is supported', [
      { path: 'Range', message: 'use bytes=N-' },
    ]);
  }
  const from = range ? Number(range[1]) : (offset ?? 0);
  const log = await store.logFrom(jobId, from);
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

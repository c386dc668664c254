/**
 * GET /v1/jobs/:id/stream: the job live, as server-sent events (`status`, `progress`, `event`,
 * `log`, then `end` once the job is settled), from the job's data in Redis: any replica serves any
 * stream, and a client that reconnects with `Last-Event-ID` resumes where it stood (stream-cursor.ts).
 * Same key and tenancy as the other job routes (loadJob: another tenant's job is a 404).
 */
import type { Request, Response } from 'express';
import type { Logger } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import { callerOf } from './auth';
import { HttpError } from './http-error';
import { loadJob } from './load-job';
import { parseCursor, START_CURSOR, type StreamCursor } from './stream-cursor';
import { END_SUFFIX, followJob, type Follower } from './stream-follower';
import { createStreamHub, type Admission, type StreamHub } from './stream-hub';

export interface StreamRouteDeps {
  store: JobStore;
  /** The process's streams (compose makes it, with wake-ups); unset: a hub whose streams only poll. */
  streams?: StreamHub;
  logger?: Logger;
}

/** How long a client waits before reconnecting after the stream drops (the SSE `retry:` field). */
export const RECONNECT_MS = 1000;

/** Seconds a client refused for its number of streams is told to wait. */
const STREAMS_RETRY_AFTER_SECONDS = 5;

export function streamRoute(deps: StreamRouteDeps) {
  const hub = deps.streams ?? createStreamHub({ logger: deps.logger });
  return async (req: Request, res: Response): Promise<void> => {
    const job = await loadJob(deps.store, req, res);
    const resume = await resumeFrom(deps.store, job.id, req.get('last-event-id'));
    // The client saw `end` and reconnected anyway: 204 is how SSE says "stop reconnecting".
    if (resume === 'ended') return void res.status(204).end();
    let follower: Follower | undefined;
    const admission = hub.admit(callerOf(res).name, () => follower?.stop());
    const place = admitted(admission, hub, res);
    try {
      openEventStream(req, res);
      if (req.method === 'HEAD') return void res.end();
      follower = followJob({ store: deps.store, hub, logger: deps.logger }, job.id, resume, res);
      await follower.done;
    } finally {
      place.release();
    }
  };
}

function admitted(admission: Admission, hub: StreamHub, res: Response): { release(): void } {
  if (admission === 'tenant_full') {
    res.set('Retry-After', String(STREAMS_RETRY_AFTER_SECONDS));
    throw new HttpError(429, 'too_many_streams', `This key has ${hub.limits.perTenant} streams open on this API process; close one first`);
  }
  if (admission === 'process_full' || admission === 'closing') {
    // 503 (Retry-After): another replica may have room, and a stopping one has none.
    throw new HttpError(503, 'unavailable', 'This API process has no room for another stream');
  }
  return admission;
}

/**
 * Where a reconnecting client stands, from its `Last-Event-ID`: the start when it sent none, or
 * `ended` after `end`. An id this job's stream cannot have sent is a 400, not a silent gap.
 */
async function resumeFrom(store: JobStore, jobId: string, header: string | undefined): Promise<StreamCursor | 'ended'> {
  const text = (header ?? '').trim();
  if (text === '') return START_CURSOR;
  const ended = text.endsWith(END_SUFFIX);
  const cursor = parseCursor(ended ? text.slice(0, -END_SUFFIX.length) : text);
  if (!cursor) throw invalidLastEventId('is not an id this stream sends');
  if (ended) return 'ended';
  if (cursor.event > 0 && (await store.eventPage(jobId, cursor.event - 1, 1)).events.length === 0) {
    throw invalidLastEventId(`names event ${cursor.event}, which this job does not have`);
  }
  const { size } = await store.logFrom(jobId, cursor.log, 1);
  if (cursor.log > size) throw invalidLastEventId(`names log byte ${cursor.log}; this job printed ${size}`);
  return cursor;
}

const invalidLastEventId = (message: string) =>
  new HttpError(400, 'invalid_request', 'Invalid Last-Event-ID', [{ path: 'Last-Event-ID', message }]);

function openEventStream(req: Request, res: Response): void {
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    // Proxies such as nginx buffer an answer unless told not to, and a buffered stream is no stream.
    'X-Accel-Buffering': 'no',
    // The connection ends with the stream: a stopping API's server.close() is not held up by it afterwards.
    Connection: 'close',
  });
  req.socket.setNoDelay(true);
  res.flushHeaders();
  if (req.method !== 'HEAD') res.write(`retry: ${RECONNECT_MS}\n\n`);
}

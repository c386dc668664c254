/**
 * One open stream: reads the job's record, events and log from where its cursor stands and writes
 * them as server-sent events, whenever the hub wakes it (a write to the job) or its timer fires.
 * Each message carries the cursor after it as its `id:`, so a client that reconnects anywhere with
 * `Last-Event-ID` gets what follows it: no gap, no message twice.
 */
import type { Response } from 'express';
import type { Logger } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import { settledAt, type JobRecord } from '@inno-train/schemas';
import { formatCursor, logChunks, progressDigest, type StreamCursor } from './stream-cursor';
import type { StreamHub, Wake } from './stream-hub';

/** Events read per page; a long backlog is sent a page at a time. */
const EVENT_PAGE = 200;

/** The id of `end`: a client that reconnects with it is answered 204, which tells EventSource to stop. */
export const END_SUFFIX = '.end';

export interface FollowDeps {
  store: JobStore;
  hub: StreamHub;
  logger?: Logger;
}

export interface Follower {
  /** Settles when the stream is over: `end` sent, the client gone, or the hub closing. */
  done: Promise<void>;
  stop(): void;
}

/** Thrown inside a read when the stream ended meanwhile: nothing more may be written. */
class StreamStopped extends Error {
  constructor() {
    super('the stream ended');
    this.name = 'StreamStopped';
  }
}

/** One message as one write: `id`, `event` and a single line of JSON (CR and LF in text are escaped by JSON). */
export function sseMessage(id: string, event: string, data: unknown): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A read's view of the stream: where it stands, and how to send (waits while the client's buffer is full). */
interface Turn {
  store: JobStore;
  jobId: string;
  cursor: StreamCursor;
  send(event: string, data: unknown, id?: string): Promise<void>;
}

export function followJob(deps: FollowDeps, jobId: string, start: StreamCursor, res: Response): Follower {
  const pending = { job: true, log: true };
  let pumping = false;
  let finished = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const turn: Turn = { store: deps.store, jobId, cursor: { ...start }, send };

  const wake: Wake = (change) => {
    if (change !== 'log') pending.job = true;
    if (change !== 'job') pending.log = true;
    void pump();
  };
  const unwatch = deps.hub.watch(jobId, wake);
  const heartbeat = setInterval(() => finished || res.write(': ping\n\n'), deps.hub.timings.heartbeatMs);
  const poll = setInterval(() => wake('all'), deps.hub.timings.pollMs);
  res.on('close', finish);

  function finish(): void {
    if (finished) return;
    finished = true;
    clearInterval(heartbeat);
    clearInterval(poll);
    unwatch();
    res.off('close', finish);
    if (!res.writableEnded) res.end();
    resolveDone();
  }

  async function send(event: string, data: unknown, id = formatCursor(turn.cursor)): Promise<void> {
    if (finished) throw new StreamStopped();
    if (res.write(sseMessage(id, event, data))) return;
    if (res.destroyed) {
      finish();
      throw new StreamStopped();
    }
    await drained(res);
  }

  /** Reads until nothing is pending; a wake-up during a read is picked up by the next turn. */
  async function pump(): Promise<void> {
    if (pumping || finished) return;
    pumping = true;
    try {
      while (!finished && (pending.job || pending.log)) {
        const wanted = { ...pending };
        pending.job = pending.log = false;
        if (await readTurn(turn, wanted.job, wanted.log)) finish();
      }
    } catch (error) {
      // Redis away for a moment: what was sent is in the cursor; the timer's next wake-up reads on.
      if (!(error instanceof StreamStopped)) deps.logger?.warn({ err: error, jobId }, 'a stream read failed; it reads again on its timer');
    } finally {
      pumping = false;
    }
  }

  // The client may have left while the route was still reading (its 'close' is then past).
  if (res.destroyed) finish();
  else void pump();
  return { done, stop: finish };
}

function drained(res: Response): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = () => {
      res.off('drain', go);
      res.off('close', go);
      resolve();
    };
    res.on('drain', go);
    res.on('close', go);
  });
}

/**
 * One read of what changed. The record is read first and the events and log after it, so when
 * the record says the job settled, everything written before that is in this read: `end` can go.
 * Answers true when the stream is over (ended, or the job deleted).
 */
async function readTurn(turn: Turn, readJob: boolean, readLog: boolean): Promise<boolean> {
  let job: JobRecord | null = null;
  if (readJob) {
    job = await turn.store.get(turn.jobId);
    if (!job) return true;
    await sendState(turn, job);
    await sendEvents(turn);
  }
  const settled = job ? settledAt(job) : null;
  if (readLog || settled !== null) await sendLog(turn);
  if (job && settled !== null) {
    await turn.send('end', { status: job.status, settledAt: settled }, `${formatCursor(turn.cursor)}${END_SUFFIX}`);
    return true;
  }
  return false;
}

/** `status` when it differs from the last one sent, `progress` when it changed. */
async function sendState(turn: Turn, job: JobRecord): Promise<void> {
  const { cursor } = turn;
  if (job.status !== cursor.status) {
    cursor.status = job.status;
    await turn.send('status', { status: job.status });
  }
  const digest = progressDigest(job.progress);
  if (digest !== cursor.progress) {
    cursor.progress = digest;
    await turn.send('progress', job.progress ?? null);
  }
}

async function sendEvents(turn: Turn): Promise<void> {
  for (;;) {
    const page = await turn.store.eventPage(turn.jobId, turn.cursor.event, EVENT_PAGE);
    for (const event of page.events) {
      turn.cursor.event = event.id;
      await turn.send('event', event);
    }
    if (!page.hasMore) return;
  }
}

async function sendLog(turn: Turn): Promise<void> {
  const log = await turn.store.logFrom(turn.jobId, turn.cursor.log);
  for (const chunk of logChunks(log.text, log.start)) {
    turn.cursor.log = chunk.end;
    await turn.send('log', { offset: chunk.offset, text: chunk.text });
  }
}

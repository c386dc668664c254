/**
 * Following one job's train.log live: one long-lived SSH channel runs the host's tail
 * (tail-log.sh) from where the stored log of that host ends, and every whole line that arrives is
 * stored at once through the guarded append (log-ingest.ts). When the poll step stored some bytes
 * first, the append is refused: the tail closes its channel and opens another from the stored
 * offset. It ends when the host says the task ended (everything is stored by then).
 */
import { completeUtf8Length } from '@inno-train/core';
import type { HostExecutor, HostTarget, StreamHandlers } from '@inno-train/host-port';
import { tailTrainingLogCommand, TAIL_END } from '@inno-train/host-protocol';
import type { JobStore } from '@inno-train/job-store';
import { ingestLog, type IngestDeps } from './log-ingest';

export interface TailDeps extends IngestDeps {
  store: IngestDeps['store'] & Pick<JobStore, 'logOffsetIfSet'>;
  shell: Required<Pick<HostExecutor, 'stream'>>;
}

export interface TailJob {
  id: string;
  instanceId: string;
  target: HostTarget;
}

export interface TailOptions {
  /** At most this many bytes per append (a longer line is cut, as the poll cuts it). */
  chunkBytes: number;
  /** How often the host looks at train.log, in seconds. */
  pollSeconds: number;
}

/**
 * `ended`: the task ended and all of its log is stored. `stopped`: `signal` fired. `not_ready`: no
 * poll has set this host's offset yet (the tail never guesses where to start: a job that was in
 * training before the offsets lived in Redis keeps its offset in its step until its poll seeds it).
 */
export type TailOutcome = 'ended' | 'stopped' | 'not_ready';

/** Follows the job's log until it ended or `signal` fires; a failure (host, Redis) throws. */
export async function followLog(deps: TailDeps, job: TailJob, signal: AbortSignal, options: TailOptions): Promise<TailOutcome> {
  let from = await deps.store.logOffsetIfSet(job.id, job.instanceId);
  if (from === null) return 'not_ready';
  for (;;) {
    if (signal.aborted) return 'stopped';
    const outcome = await tailOnce(deps, job, from, signal, options);
    if (typeof outcome !== 'number') return outcome;
    from = outcome;
  }
}

/** Why a tail closed its own channel: its append was refused, and the stored log ends at `offset`. */
class AppendRefused extends Error {
  constructor(readonly offset: number) {
    super(`The stored log already goes on to byte ${offset}`);
    this.name = 'AppendRefused';
  }
}

/** One channel from `from`: its outcome, or the offset to open the next one from. */
async function tailOnce(
  deps: TailDeps,
  job: TailJob,
  from: number,
  outer: AbortSignal,
  options: TailOptions,
): Promise<Exclude<TailOutcome, 'not_ready'> | number> {
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer.reason);
  outer.addEventListener('abort', onOuter, { once: true });
  const writer = new LogWriter(deps, job, from, options.chunkBytes, (reason) => controller.abort(reason));
  const stderr = new LineReader();
  const handlers: StreamHandlers = { onStdout: (chunk) => writer.push(chunk), onStderr: (chunk) => stderr.push(chunk) };
  const command = tailTrainingLogCommand(job.id, from, { pollSeconds: options.pollSeconds });
  try {
    await deps.shell.stream(job.target, command, handlers, { signal: controller.signal, label: 'train:tail' });
  } catch (error) {
    await writer.idle();
    if (writer.refusedAt !== null) return writer.refusedAt;
    if (outer.aborted) return 'stopped';
    throw error;
  } finally {
    outer.removeEventListener('abort', onOuter);
  }
  // The channel closed: every byte it carried is here. After `end` the last line may lack its newline.
  await writer.finish(stderr.saw(TAIL_END));
  if (writer.refusedAt !== null) return writer.refusedAt;
  if (writer.failure !== undefined) throw writer.failure;
  if (!stderr.saw(TAIL_END)) throw new Error(`The log tail of job ${job.id} closed without saying the task ended`);
  return 'ended';
}

/** Stores what the channel hands over, in order, one append at a time. */
class LogWriter {
  private pending: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  refusedAt: number | null = null;
  failure: unknown;

  constructor(
    private readonly deps: TailDeps,
    private readonly job: TailJob,
    /** Where `pending` begins in the host's log: the stored log of that host ends here. */
    private offset: number,
    private readonly chunkBytes: number,
    private readonly abort: (reason: unknown) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.chain = this.chain.then(() => this.flush(false));
  }

  /** Stores what is left: everything when the task ended, else whole lines only. */
  finish(ended: boolean): Promise<void> {
    this.chain = this.chain.then(() => this.flush(ended));
    return this.chain;
  }

  idle(): Promise<void> {
    return this.chain;
  }

  private async flush(ended: boolean): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const cut = cutPoint(this.pending, ended, this.chunkBytes);
      if (cut === 0) return;
      const text = this.pending.subarray(0, cut).toString('utf8');
      try {
        const stored = await ingestLog(this.deps, this.job.id, this.job.instanceId, { from: this.offset, consumed: cut, text });
        if (!stored.appended) return this.stop(new AppendRefused(stored.offset), stored.offset);
      } catch (error) {
        this.failure = error;
        return this.stop(error, null);
      }
      this.offset += cut;
      this.pending = this.pending.subarray(cut);
    }
  }

  private stop(reason: unknown, refusedAt: number | null): void {
    this.stopped = true;
    this.refusedAt = refusedAt;
    this.abort(reason);
  }
}

/**
 * How many bytes of `pending` to store now: up to its last newline within chunkBytes while the task
 * runs (a metrics line is never cut), everything once it ended; a line longer than chunkBytes is
 * cut at chunkBytes, at a character boundary (as consumeChunk does for the poll).
 */
export function cutPoint(pending: Buffer, ended: boolean, chunkBytes: number): number {
  if (pending.length === 0) return 0;
  if (ended && pending.length <= chunkBytes) return pending.length;
  const window = pending.subarray(0, chunkBytes);
  const newline = window.lastIndexOf(0x0a);
  if (newline >= 0) return newline + 1;
  if (pending.length >= chunkBytes) return completeUtf8Length(window) || window.length;
  return ended ? pending.length : 0;
}

/** The host tail's stderr, by lines (`end`, `alive`). */
class LineReader {
  private text = '';
  private readonly lines = new Set<string>();

  push(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    const parts = this.text.split('\n');
    this.text = parts.pop() ?? '';
    for (const line of parts) this.lines.add(line.trim());
    // Only a few short words come here; a host that writes more is not let grow this.
    if (this.text.length > 4096) this.text = '';
  }

  saw(line: string): boolean {
    return this.lines.has(line);
  }
}

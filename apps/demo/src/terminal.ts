import type { Job } from '@inno-train/client';
import { renderProgress } from './progress';

/** Where the demo writes: process.stdout, or a capture in tests. */
export interface DemoOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const CLEAR_LINE = '\r\x1b[K';

/**
 * Keeps one live progress line under the log lines. On a terminal it is redrawn in place; in a
 * pipe (CI) it is printed only when the status, the step or a tenth of a transfer changes, so logs stay short and readable.
 */
export class ProgressPrinter {
  private showing = false;
  private lastKey = '';

  constructor(private readonly out: DemoOutput) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  line(text: string): void {
    if (this.showing) this.out.write(CLEAR_LINE);
    this.showing = false;
    this.out.write(`${text}\n`);
  }

  progress(job: Job, elapsedMs: number): void {
    if (this.tty) {
      this.out.write(`${CLEAR_LINE}${renderProgress(job, elapsedMs, this.out.columns || 80)}`);
      this.showing = true;
      return;
    }
    // A transfer prints at each tenth of its bytes, so a pipe shows it move without a line a second.
    const transfer =
      job.transfer?.stage === job.status && job.transfer.bytesTotal > 0
        ? Math.floor((10 * job.transfer.bytesDone) / job.transfer.bytesTotal)
        : '';
    const key = `${job.status}:${job.progress?.step ?? ''}:${transfer}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.out.write(`${renderProgress(job, elapsedMs, 100)}\n`);
  }

  /** Leaves the last progress line on screen and moves below it. */
  finish(): void {
    if (this.showing) this.out.write('\n');
    this.showing = false;
  }
}

import type { Job, JobEvent } from '@inno-train/client';

/** Wide enough for the longest status, `staging_out`, so the bar does not jump between stages. */
const STAGE_WIDTH = 11;
const MAX_BAR = 30;
const MIN_BAR = 5;

function formatNumber(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(4);
}

export function formatSeconds(ms: number): string {
  return `${(Math.max(ms, 0) / 1000).toFixed(1)}s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** A transfer rate in formatBytes' units per second ("171.7 MiB/s"); the API's rate may be fractional. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(Math.max(bytesPerSecond, 0)))}/s`;
}

type Transfer = NonNullable<Job['transfer']>;

/** The transfer of the stage the job is in, or null: figures left from an earlier stage are not this one's. */
function currentTransfer(job: Job): Transfer | null {
  const transfer = job.transfer;
  return transfer && transfer.stage === job.status ? transfer : null;
}

/** "1.2 GiB / 2.0 GiB · 171.7 MiB/s"; the total reads "?" until the stage knows it. */
export function transferText(transfer: Transfer): string {
  const total = transfer.bytesTotal > 0 ? formatBytes(transfer.bytesTotal) : '?';
  return `${formatBytes(transfer.bytesDone)} / ${total} · ${formatRate(transfer.bytesPerSecond)}`;
}

/** How full the bar is: a finished job is full even if its last metrics line said otherwise. */
function fraction(job: Job): number {
  if (job.status === 'succeeded') return 1;
  const transfer = currentTransfer(job);
  if (transfer) return transfer.bytesTotal > 0 ? Math.min(Math.max(transfer.bytesDone / transfer.bytesTotal, 0), 1) : 0;
  const step = job.progress?.step;
  const total = job.progress?.totalSteps;
  if (step === undefined || !total || total <= 0) return 0;
  return Math.min(Math.max(step / total, 0), 1);
}

/** The training figures: step/total, loss, and accuracy when the script reports it. */
function trainingText(job: Job): string {
  const progress = job.progress;
  const steps = progress ? `${progress.step ?? '-'}/${progress.totalSteps ?? '?'}` : '-/-';
  const metrics = [`loss ${progress?.loss !== undefined ? formatNumber(progress.loss) : '-'}`];
  if (typeof progress?.accuracy === 'number') metrics.push(`acc ${progress.accuracy.toFixed(3)}`);
  return `${steps.padStart(7)}  ${metrics.join('  ')}`;
}

/**
 * One status line: stage, bar, then the figures of the stage (bytes done / total and rate while a
 * transfer reports, else step/total and loss), and elapsed time. Pure, and never longer than
 * `width - 1`, so a `\r` redraw cannot wrap the terminal.
 */
export function renderProgress(job: Job, elapsedMs: number, width: number): string {
  const transfer = currentTransfer(job);
  const figures = transfer ? transferText(transfer) : trainingText(job);
  const tail = `${figures}  ${formatSeconds(elapsedMs).padStart(6)}`;
  const head = job.status.padEnd(STAGE_WIDTH);
  const room = width - 1 - head.length - tail.length - 4;
  const barWidth = Math.min(room, MAX_BAR);
  let line = `${head}  ${tail}`;
  if (barWidth >= MIN_BAR) {
    const filled = Math.round(fraction(job) * barWidth);
    line = `${head} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${tail}`;
  }
  return line.slice(0, Math.max(width - 1, 0));
}

function clock(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toTimeString().slice(0, 8);
}

/** An event as one log line: local time, stage, message. */
export function formatEvent(event: JobEvent): string {
  return `  ${clock(event.at)}  ${event.stage.padEnd(12)}  ${event.message}`;
}

export interface LossCurve {
  first: number;
  last: number;
  steps: number;
}

/** First and last loss from the metrics lines in the training log (the JSON lines with a step). */
export function lossesFromLog(log: string): LossCurve | null {
  const losses: number[] = [];
  for (const line of log.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) continue;
    try {
      const record = JSON.parse(trimmed) as { step?: unknown; loss?: unknown };
      if (typeof record.step === 'number' && typeof record.loss === 'number') losses.push(record.loss);
    } catch {
      // A line that only looks like JSON: the script's own output, not a metrics record.
    }
  }
  const first = losses[0];
  const last = losses[losses.length - 1];
  return first === undefined || last === undefined ? null : { first, last, steps: losses.length };
}

/** Time spent in each status, from the status events (each one starts the next stage's clock). */
export function stageDurations(events: JobEvent[]): { status: string; ms: number }[] {
  const changes = events
    .filter((e) => e.type === 'status' && typeof e.data?.status === 'string')
    .map((e) => ({ status: e.data?.status as string, at: Date.parse(e.at) }));
  const durations: { status: string; ms: number }[] = [];
  for (let i = 0; i + 1 < changes.length; i += 1) {
    const current = changes[i];
    const next = changes[i + 1];
    if (current && next) durations.push({ status: current.status, ms: next.at - current.at });
  }
  return durations;
}

function instanceLines(job: Job): string[] {
  const instance = job.instance;
  if (!instance) return ['  instance: none was launched'];
  const where = `${instance.type} in ${instance.region} (${instance.id})`;
  const price = instance.priceCentsPerHour !== null ? `, $${(instance.priceCentsPerHour / 100).toFixed(2)}/h` : '';
  if (!instance.terminatedAt) return [`  instance: ${where}${price}, status ${instance.status}, NOT terminated yet: check it`];
  const lifetime = Date.parse(instance.terminatedAt) - Date.parse(instance.launchedAt);
  return [
    `  instance: ${where}${price}, alive ${formatSeconds(lifetime)} (${clock(instance.launchedAt)} -> ${clock(instance.terminatedAt)})`,
  ];
}

/** Final only once the job is settled: until every instance is confirmed gone, one may still bill. */
function costLine(job: Job): string {
  const { usd, instanceSeconds, final } = job.cost;
  const state = final ? `final, settled ${job.settledAt ? clock(job.settledAt) : '?'}` : 'NOT final: an instance may still bill';
  return `  cost: $${usd.toFixed(4)} for ${formatSeconds(instanceSeconds * 1000)} of instance time (${state})`;
}

export interface SummaryInput {
  job: Job;
  wallMs: number;
  losses: LossCurve | null;
  events: JobEvent[];
  log: string;
}

/** The closing report: outcome, loss curve, timings, outputs, instance; on failure the error and log tail. */
export function formatSummary(input: SummaryInput): string[] {
  const { job } = input;
  const lines = ['', `Job ${job.id} ${job.status} after ${formatSeconds(input.wallMs)}`];
  if (input.losses) {
    lines.push(`  loss: ${formatNumber(input.losses.first)} -> ${formatNumber(input.losses.last)} over ${input.losses.steps} steps`);
  } else if (job.progress?.loss !== undefined) {
    lines.push(`  loss: ${formatNumber(job.progress.loss)} (last reported)`);
  }
  const stages = stageDurations(input.events);
  if (stages.length > 0) lines.push(`  stages: ${stages.map((s) => `${s.status} ${formatSeconds(s.ms)}`).join(', ')}`);
  lines.push(`  outputs: ${job.outputUri}`);
  const keyWidth = Math.max(0, ...job.outputs.map((o) => o.key.length));
  for (const output of job.outputs) lines.push(`    ${output.key.padEnd(keyWidth)}  ${formatBytes(output.size).padStart(10)}`);
  if (job.outputs.length === 0) lines.push('    (none)');
  lines.push(...instanceLines(job), costLine(job));
  if (job.status !== 'succeeded') {
    if (job.error) lines.push(`  error: ${job.error.code} (${job.error.stage}): ${job.error.message}`);
    const tail = input.log.trimEnd().split('\n').slice(-20);
    lines.push('  last lines of the training log:', ...(input.log.trim() ? tail.map((l) => `    | ${l}`) : ['    (empty)']));
  }
  return lines;
}

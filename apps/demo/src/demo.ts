import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InnoTrainError, isFinished, type InnoTrainClient, type Job, type JobEvent, type JobOutput } from '@inno-train/client';
import { createDemoClient } from './api-client';
import { formatBytes, formatEvent, formatSummary, lossesFromLog } from './progress';
import { ensureService } from './service';
import { resolveApiKey, resolveS3, type DemoEnv, type S3Settings } from './settings';
import { ProgressPrinter, type DemoOutput } from './terminal';
import { DATA_PREFIX, uploadDataset } from './upload';

export * from './api-client';
export * from './progress';
export * from './service';
export * from './settings';
export * from './terminal';
export * from './upload';

/** train.py, train.csv and eval.csv ship beside src/ and dist/. */
export const ASSETS_DIR = join(__dirname, '..', 'assets');
export const DEMO_JOB_NAME = 'demo-mlp';

export interface TrainConfig {
  epochs: number;
  lr: number;
  batch_size: number;
}

/** 8 epochs of 13 batches: 104 steps, about 9 s of training, eval accuracy about 0.9. */
export const DEFAULT_TRAIN_CONFIG: TrainConfig = { epochs: 8, lr: 0.3, batch_size: 32 };

export interface DemoOptions {
  client: InnoTrainClient;
  s3: S3Settings;
  out: DemoOutput;
  instanceType: string;
  assetsDir?: string;
  config?: TrainConfig;
  pollIntervalMs?: number;
  /** How long to wait, after the job ends, for it to be settled (its instance confirmed terminated). */
  teardownTimeoutMs?: number;
  /** Aborting cancels the job; the demo still waits for the instance to go away. */
  signal?: AbortSignal;
}

export interface DemoResult {
  exitCode: 0 | 1;
  job: Job;
}

export function buildSubmission(inputs: { train: string; eval: string }, script: string, instanceType: string, config: TrainConfig) {
  return {
    name: DEMO_JOB_NAME,
    instance: { type: instanceType },
    inputs: { train: inputs.train, eval: inputs.eval },
    script: { inline: script, filename: 'train.py' },
    config: { ...config },
    // The script checkpoints each epoch: sync them as they come, and resume from the latest should the host die.
    checkpoint: { syncSeconds: 5 },
    retry: { onHostLost: 1, onPreempted: 2 },
    metadata: { source: 'npm run demo' },
  };
}

/** Uploads the dataset, submits the job, shows it live and prints the closing report. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const printer = new ProgressPrinter(options.out);
  const assetsDir = options.assetsDir ?? ASSETS_DIR;
  const script = readFileSync(join(assetsDir, 'train.py'), 'utf8');
  const dataset = await uploadDataset(options.s3, assetsDir);
  printer.line(`Uploaded train.csv, eval.csv (${formatBytes(dataset.bytes)}) to s3://${options.s3.bucket}/${DATA_PREFIX}`);
  if (options.signal?.aborted) throw new Error('Interrupted before the job was submitted');

  const submittedAt = Date.now();
  const body = buildSubmission(dataset, script, options.instanceType, options.config ?? DEFAULT_TRAIN_CONFIG);
  const submitted = await options.client.jobs.create(body);
  printer.line(`Submitted job ${submitted.id} (${options.instanceType}, config ${JSON.stringify(body.config)})`);

  const { job, events, endedAt } = await watchJob(options, printer, submitted.id, submittedAt);
  printer.finish();
  const log = await options.client.jobs.logs(job.id).catch(() => '');
  // The server's own timestamps when it has both; our observation (one poll coarser) otherwise.
  const wallMs = job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.createdAt) : endedAt - submittedAt;
  for (const line of formatSummary({ job, wallMs, losses: lossesFromLog(log), events, log })) printer.line(line);
  if (job.status === 'succeeded') for (const line of await evalReport(options.client, job.id)) printer.line(line);
  return { exitCode: job.status === 'succeeded' ? 0 : 1, job };
}

/**
 * The run's eval.json, fetched as any client would: listed by the outputs endpoint, downloaded
 * through its redirect straight from S3 (the API key goes to the API only). A report line, never a
 * failure: the job succeeded whatever this finds.
 */
async function evalReport(client: InnoTrainClient, id: string): Promise<string[]> {
  try {
    let listed: JobOutput | undefined;
    for await (const output of client.jobs.listOutputs(id)) if (output.path === 'eval.json') listed = output;
    if (!listed) return [];
    const answer = await client.jobs.downloadOutput(id, listed.path);
    const text = (await answer.text()).replace(/\s+/g, ' ').trim();
    return [`  eval.json (${listed.size} B, downloaded through the API's redirect from S3): ${text.slice(0, 200)}`];
  } catch (error) {
    return [`  eval.json could not be downloaded: ${(error as Error).message}`];
  }
}

/** What the demo has seen of the job so far. */
interface Watch {
  job: Job | null;
  events: JobEvent[];
  printed: number;
  endedAt: number | null;
  cancelSent: boolean;
}

/** On Ctrl-C: cancel once. A job that ended meanwhile (409 job_finished) is what cancelling wanted anyway. */
async function cancelOnce(options: DemoOptions, printer: ProgressPrinter, watch: Watch, id: string): Promise<void> {
  if (!options.signal?.aborted || watch.cancelSent) return;
  watch.cancelSent = true;
  printer.line(`Cancelling job ${id}...`);
  await options.client.jobs.cancel(id).catch((error: unknown) => {
    if (!(error instanceof InnoTrainError && error.code === 'job_finished')) printer.line(`  cancel failed: ${(error as Error).message}`);
  });
}

/**
 * Follows the job (events, progress) until it is settled: finished and its instance confirmed
 * terminated. Once it has finished, the teardown gets `teardownTimeoutMs`; past that the demo
 * reports the last state it saw, and the summary says the instance was not confirmed gone.
 */
async function watchJob(options: DemoOptions, printer: ProgressPrinter, id: string, submittedAt: number) {
  const teardownTimeoutMs = options.teardownTimeoutMs ?? 60_000;
  const teardownOver = new AbortController();
  let teardownTimer: NodeJS.Timeout | undefined;
  const watch: Watch = { job: null, events: [], printed: 0, endedAt: null, cancelSent: false };
  const onUpdate = async (job: Job) => {
    watch.job = job;
    await cancelOnce(options, printer, watch, id);
    watch.events = (await options.client.jobs.events(id)).data;
    for (const event of watch.events.slice(watch.printed)) printer.line(formatEvent(event));
    watch.printed = Math.max(watch.printed, watch.events.length);
    if (isFinished(job) && watch.endedAt === null) {
      watch.endedAt = Date.now();
      teardownTimer = setTimeout(() => teardownOver.abort(), teardownTimeoutMs);
    }
    printer.progress(job, (watch.endedAt ?? Date.now()) - submittedAt);
  };
  try {
    const job = await options.client.jobs.waitUntilSettled(id, {
      intervalMs: options.pollIntervalMs ?? 300,
      signal: teardownOver.signal,
      onUpdate,
    });
    return { job, events: watch.events, endedAt: watch.endedAt ?? Date.now() };
  } catch (error) {
    // Only the teardown deadline is reported as a result (the summary flags the instance); anything else is a failure.
    if (!teardownOver.signal.aborted || watch.job === null) throw error;
    return { job: watch.job, events: watch.events, endedAt: watch.endedAt ?? Date.now() };
  } finally {
    clearTimeout(teardownTimer);
  }
}

export interface RunWithServiceOptions {
  out: DemoOutput;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Overrides for tests: the service entry point and the job-side knobs. */
  serviceEntry?: string;
  demo?: Partial<Pick<DemoOptions, 'assetsDir' | 'config' | 'pollIntervalMs' | 'teardownTimeoutMs'>>;
}

/** `npm run demo`: finds (or starts) the service, runs the demo, stops what it started. */
export async function runDemoWithService(demoEnv: DemoEnv, options: RunWithServiceOptions): Promise<number> {
  const log = (line: string) => void options.out.write(`${line}\n`);
  const service = await ensureService({
    dataDir: demoEnv.dataDir,
    repoRoot: demoEnv.repoRoot,
    apiUrl: demoEnv.apiUrl,
    entry: options.serviceEntry,
    env: options.env,
    signal: options.signal,
    log,
  });
  try {
    const runtime = service.runtime;
    log(`Service ${service.apiUrl} (provider ${runtime?.provider ?? 'unknown: no runtime.json'})`);
    if (runtime?.provider === 'lambda') log(`Provider lambda: this launches a real, billed ${demoEnv.instanceType} on Lambda Cloud.`);
    const client = createDemoClient(service.apiUrl, resolveApiKey(demoEnv));
    const s3 = resolveS3(runtime, demoEnv.s3);
    const result = await runDemo({
      ...options.demo,
      client,
      s3,
      out: options.out,
      instanceType: demoEnv.instanceType,
      signal: options.signal,
    });
    return result.exitCode;
  } finally {
    if (service.started) {
      log(`Stopping the service the demo started (pid ${service.started.pid}; its log: ${service.started.logPath})`);
      await service.stop();
    }
  }
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiClient, TERMINAL_STATUSES, type ApiClient, type JobEventView, type JobView } from './api-client';
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
  api: ApiClient;
  s3: S3Settings;
  out: DemoOutput;
  instanceType: string;
  assetsDir?: string;
  config?: TrainConfig;
  pollIntervalMs?: number;
  /** How long to wait, after the job ends, for its instance to be reported terminated. */
  teardownTimeoutMs?: number;
  /** Aborting cancels the job; the demo still waits for the instance to go away. */
  signal?: AbortSignal;
}

export interface DemoResult {
  exitCode: 0 | 1;
  job: JobView;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function buildSubmission(inputs: { train: string; eval: string }, script: string, instanceType: string, config: TrainConfig) {
  return {
    name: DEMO_JOB_NAME,
    instance: { type: instanceType },
    inputs: { train: inputs.train, eval: inputs.eval },
    script: { inline: script, filename: 'train.py' },
    config: { ...config },
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
  const submitted = await options.api.submitJob(body);
  printer.line(`Submitted job ${submitted.id} (${options.instanceType}, config ${JSON.stringify(body.config)})`);

  const { job, events, endedAt } = await watchJob(options, printer, submitted.id, submittedAt);
  printer.finish();
  const log = await options.api.getLogs(job.id).catch(() => '');
  // The server's own timestamps when it has both; our observation (one poll coarser) otherwise.
  const wallMs = job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.createdAt) : endedAt - submittedAt;
  for (const line of formatSummary({ job, wallMs, losses: lossesFromLog(log), events, log })) printer.line(line);
  return { exitCode: job.status === 'succeeded' ? 0 : 1, job };
}

function instanceGone(job: JobView): boolean {
  return job.instance === null || job.instance.terminatedAt !== null;
}

/** Polls the job and its events until it has ended and its instance is gone (or the wait runs out). */
async function watchJob(options: DemoOptions, printer: ProgressPrinter, id: string, submittedAt: number) {
  const { api } = options;
  const pollMs = options.pollIntervalMs ?? 300;
  const teardownTimeoutMs = options.teardownTimeoutMs ?? 60_000;
  let events: JobEventView[] = [];
  let printed = 0;
  let endedAt: number | null = null;
  let cancelSent = false;
  let lastAnswer = Date.now();
  for (;;) {
    if (options.signal?.aborted && !cancelSent) {
      cancelSent = true;
      printer.line(`Cancelling job ${id}...`);
      await api.cancelJob(id).catch((error: unknown) => printer.line(`  cancel failed: ${(error as Error).message}`));
    }
    let job: JobView;
    try {
      job = await api.getJob(id);
      events = await api.getEvents(id);
      lastAnswer = Date.now();
    } catch (error) {
      // A slow answer or a blip is retried; a service gone for good ends the demo with its error.
      if (Date.now() - lastAnswer > 15_000) throw error;
      await sleep(pollMs);
      continue;
    }
    for (const event of events.slice(printed)) printer.line(formatEvent(event));
    printed = Math.max(printed, events.length);
    if (TERMINAL_STATUSES.has(job.status) && endedAt === null) endedAt = Date.now();
    printer.progress(job, (endedAt ?? Date.now()) - submittedAt);
    if (endedAt !== null && (instanceGone(job) || Date.now() - endedAt > teardownTimeoutMs)) return { job, events, endedAt };
    await sleep(pollMs);
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
    const api = createApiClient(service.apiUrl, resolveApiKey(demoEnv));
    const s3 = resolveS3(runtime, demoEnv.s3);
    const result = await runDemo({
      ...options.demo,
      api,
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

/**
 * Stage-out with the training log, on real parts: a real Redis (job store, queues), a real
 * S3-protocol server (presigned PUT and multipart, as on AWS), and the real host scripts run by bash
 * in a folder that plays the instance's home (what the local provider does). Only the SSH transport
 * is left out: commands run locally, as the user's shell would run them.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger, isoNow } from '@inno-train/core';
import type { ExecResult, HostExecutor } from '@inno-train/host-port';
import { jobDir } from '@inno-train/host-protocol';
import { createJobStore, newJobId, type JobStore } from '@inno-train/job-store';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { deleteNamespace, startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import { closeStageQueues, openStageQueues, type StageQueues } from '@inno-train/workflow';
import { defaultTimings, TRANSFER } from '@inno-train/workflow-constants';
import { logArchiveKey } from '../src/log-archive';
import { stageOutStep } from '../src/stage-out';
import type { TransferDeps } from '../src/stage-in';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const OUT_BUCKET = 'tenant-out';
const SERVICE_BUCKET = 'inno-service';
const logger = createLogger({ name: 'stage-out-test', level: 'silent' });

jest.setTimeout(60_000);

/** The instance's home: every command runs there with bash, as over SSH. */
class LocalHost implements HostExecutor {
  readonly labels: string[] = [];
  constructor(readonly home: string) {}

  exec(_target: unknown, command: string, options: { label?: string; stdin?: string | Buffer } = {}): Promise<ExecResult> {
    if (options.label) this.labels.push(options.label);
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', command], {
        cwd: this.home,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.home, SHELL: '/bin/bash', LANG: 'C.UTF-8' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      // As over SSH: the given bytes, then end-of-file.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin ?? '');
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.once('error', reject);
      child.once('close', (code, signal) =>
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          exitCode: code,
          signal,
          stdoutTruncated: false,
          stderrTruncated: false,
        }),
      );
    });
  }

  async upload(_target: unknown, remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const path = join(this.home, remotePath);
    await writeFile(`${path}.tmp`, content, { mode });
    await rename(`${path}.tmp`, path);
  }

  async probe(): Promise<boolean> {
    return true;
  }
}

let redis: Redis;
let ns: string;
let store: JobStore;
let queues: StageQueues;
let server: S3ServerHandle;
let storage: S3Storage;
let home: string;
let host: LocalHost;

beforeAll(async () => {
  ns = `t-stage-out-${process.pid}-${Date.now()}`;
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  store = createJobStore({ redis, namespace: ns });
  queues = openStageQueues({ connection: redis, prefix: `{${ns}}` });
  server = await startS3Server({ buckets: [OUT_BUCKET, SERVICE_BUCKET] });
  storage = createS3Storage({
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  home = mkdtempSync(join(tmpdir(), 'stage-out-home-'));
  host = new LocalHost(home);
});

afterAll(async () => {
  storage?.destroy();
  await server?.close();
  await closeStageQueues(queues);
  await deleteNamespace(redis, ns);
  await redis.quit();
  if (home) rmSync(home, { recursive: true, force: true });
});

function depsFor(logBucket: string | undefined): TransferDeps {
  return {
    store,
    queues,
    storage,
    shell: host,
    identity: { username: 'ubuntu', port: 22, privateKey: 'unused' },
    timings: { ...defaultTimings(), transferPollMs: 50 },
    connections: 8,
    ...(logBucket ? { logBucket } : {}),
  };
}

/** Deterministic log text of `bytes` bytes: numbered lines, so a lost or doubled chunk shows. */
function logText(bytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `line ${String(i).padStart(8, '0')} loss=${(1 / (i + 1)).toFixed(6)}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** A job in staging_out whose host folder holds one output and a train.log of `log` (none: no file). */
async function jobOnHost(log: Buffer | null, patch: Partial<JobRecord> = {}): Promise<JobRecord> {
  const id = newJobId();
  const job = createJobRecord(
    {
      id,
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: 'print(1)', filename: 'train.py' },
        command: 'python3 train.py',
        outputUri: `s3://${OUT_BUCKET}/jobs/${id}/output/`,
      } as JobRecord['spec'],
    },
    {
      status: 'staging_out',
      instance: {
        id: `i-${id}`,
        type: 'gpu_1x_a10',
        region: 'us-east-1',
        ip: '127.0.0.1',
        status: 'active',
        launchedAt: isoNow(),
        terminatedAt: null,
        priceCentsPerHour: 75,
      },
      ...patch,
    },
  );
  await store.create(job, { at: isoNow(), type: 'status', stage: 'submit', message: 'Job submitted', data: { status: 'queued' } });
  const dir = join(home, jobDir(id));
  mkdirSync(join(dir, 'output'), { recursive: true });
  mkdirSync(join(dir, '.inno'), { recursive: true });
  writeFileSync(join(dir, 'output', 'model.bin'), 'weights');
  if (log) writeFileSync(join(dir, 'train.log'), log);
  return job;
}

/** Runs stage-out steps as the worker would, until the stage is done. */
async function runStageOut(deps: TransferDeps, jobId: string): Promise<JobRecord> {
  let step: Record<string, unknown> = {};
  for (let i = 0; i < 600; i++) {
    const outcome = await stageOutStep(deps, { jobId, step: step as never }, logger);
    if (outcome.kind !== 'wait') return store.mustGet(jobId);
    step = outcome.step as Record<string, unknown>;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('stage-out did not finish');
}

async function objectBytes(bucket: string, key: string): Promise<Buffer> {
  const response = await fetch(await storage.presignGet(bucket, key, 60));
  if (!response.ok) throw new Error(`GET ${key}: ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

describe('stage-out archives the training log', () => {
  it('uploads a log larger than one part to the service bucket in multipart parts, outside the outputs', async () => {
    const log = logText(TRANSFER.partSizeBytes + 1_234_567);
    const job = await jobOnHost(log);
    const done = await runStageOut(depsFor(SERVICE_BUCKET), job.id);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(done.outputs).toEqual([{ key: `jobs/${job.id}/output/model.bin`, size: 7 }]);
    expect(done.logArchive).toEqual({
      uri: `s3://${SERVICE_BUCKET}/jobs/${job.id}/logs/train.log`,
      size: log.length,
      archivedAt: expect.any(String),
    });
    expect((await objectBytes(SERVICE_BUCKET, logArchiveKey(job.id))).equals(log)).toBe(true);
    const events = (await store.eventPage(job.id, 0, 100)).events.map((event) => event.message);
    expect(events).toContainEqual(expect.stringMatching(/and the training log \(\d+ bytes\) to s3:\/\/inno-service\//));
    expect(events).toContainEqual(expect.stringMatching(/training log \(\d+ bytes\) archived; job succeeded/));
  });

  it('archives a small log with one PUT after failed training too, and a rerun of the start reuses the plan', async () => {
    const log = logText(10_000);
    const pendingError = { code: 'training_failed' as const, message: 'exit 1', stage: 'training' as const };
    const job = await jobOnHost(log, { pendingError });
    const deps = depsFor(SERVICE_BUCKET);
    // A worker that died after starting: the next start reuses the saved plan, log included.
    await stageOutStep(deps, { jobId: job.id, step: {} as never }, logger);
    const planned = await store.mustGet(job.id);
    expect(planned.logArchive).toEqual({ uri: `s3://${SERVICE_BUCKET}/${logArchiveKey(job.id)}`, size: log.length, archivedAt: null });
    const done = await runStageOut(deps, job.id);
    expect(done.stageOutPlan).toEqual(planned.stageOutPlan);
    expect({ status: done.status, code: done.error?.code }).toEqual({ status: 'failed', code: 'training_failed' });
    expect(done.logArchive).toMatchObject({ size: log.length, archivedAt: expect.any(String) });
    expect((await objectBytes(SERVICE_BUCKET, logArchiveKey(job.id))).equals(log)).toBe(true);
  });

  it('a log that cannot be uploaded does not fail the job: an event says why and no archive is recorded', async () => {
    const job = await jobOnHost(logText(5000));
    // The bucket does not exist: the host's presigned PUT of the log is refused, the outputs go up.
    const done = await runStageOut(depsFor('no-such-bucket'), job.id);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(done.outputs).toEqual([{ key: `jobs/${job.id}/output/model.bin`, size: 7 }]);
    expect(done.logArchive).toBeNull();
    const events = (await store.eventPage(job.id, 0, 100)).events;
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'transfer',
        message: expect.stringMatching(/^The training log was not archived to s3:\/\/no-such-bucket\//),
      }),
    );
  });

  it('a log too large for one part whose upload cannot be opened does not fail the job either', async () => {
    const job = await jobOnHost(logText(TRANSFER.partSizeBytes + 10));
    const done = await runStageOut(depsFor('no-such-bucket'), job.id);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(done.logArchive).toBeNull();
    const events = (await store.eventPage(job.id, 0, 100)).events.map((event) => event.message);
    expect(events).toContainEqual(expect.stringMatching(/^The training log will not be archived to s3:\/\/no-such-bucket\//));
  });

  it('archives nothing without a service bucket or without a train.log', async () => {
    const withoutBucket = await runStageOut(depsFor(undefined), (await jobOnHost(logText(100))).id);
    expect({ status: withoutBucket.status, logArchive: withoutBucket.logArchive }).toEqual({ status: 'succeeded', logArchive: null });
    const withoutLog = await runStageOut(depsFor(SERVICE_BUCKET), (await jobOnHost(null)).id);
    expect({ status: withoutLog.status, logArchive: withoutLog.logArchive }).toEqual({ status: 'succeeded', logArchive: null });
    expect(host.labels.filter((label) => label === 'stage-out:list').length).toBeGreaterThan(0);
  });
});

/**
 * Checkpoint files over one part on real parts: the monitor's sync against real Redis, a real
 * S3-protocol server, and the host scripts run with the local bash, curl and python3 in a folder
 * standing for the instance's home (as apps/transfer/test/stage-out.test.ts does for outputs).
 * The bytes go from the folder to S3 only through the host script's curl and presigned URLs.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompleteMultipartUploadCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { createLogger, isoNow } from '@inno-train/core';
import type { ExecResult, HostExecutor } from '@inno-train/host-port';
import { jobDir, listCheckpointsCommand, parseCheckpointListing } from '@inno-train/host-protocol';
import { createJobStore, newJobId, type JobStore } from '@inno-train/job-store';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { deleteNamespace, startS3Server, waitFor, type S3ServerHandle } from '@inno-train/test-kit';
import type { HostTarget } from '@inno-train/workflow';
import { defaultTimings, TRANSFER } from '@inno-train/workflow-constants';
import {
  FINAL_SYNC_DEADLINE_MS,
  finalCheckpoints,
  syncCheckpoints,
  type CheckpointDeps,
  type CheckpointStorage,
} from '../src/checkpoint-sync';
import { MAX_CHECKPOINT_FILE_BYTES } from '../src/checkpoint-upload';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BUCKET = 'ckpt-out';
const PART = TRANSFER.partSizeBytes;
const TARGET: HostTarget = { host: '127.0.0.1', port: 22, username: 'ubuntu', privateKey: 'unused' };
const logger = createLogger({ name: 'checkpoint-upload-test', level: 'silent' });

jest.setTimeout(120_000);

/** The instance's home: every command runs there with bash, as over SSH. `failUploads` loses that many script uploads. */
class LocalHost implements HostExecutor {
  failUploads = 0;
  constructor(readonly home: string) {}

  exec(_target: unknown, command: string): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', command], {
        cwd: this.home,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.home, SHELL: '/bin/bash', LANG: 'C.UTF-8' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
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
    if (this.failUploads > 0) {
      this.failUploads -= 1;
      throw new Error('the SSH connection was lost');
    }
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
let server: S3ServerHandle;
let storage: S3Storage;
let s3: S3Client;
let home: string;

beforeAll(async () => {
  ns = `t-ckpt-upload-${process.pid}-${Date.now()}`;
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  store = createJobStore({ redis, namespace: ns });
  server = await startS3Server({ buckets: [BUCKET] });
  const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
  storage = createS3Storage({ region: server.region, endpoint: server.endpoint, forcePathStyle: true, credentials });
  s3 = new S3Client({ region: server.region, endpoint: server.endpoint, forcePathStyle: true, credentials });
  home = mkdtempSync(join(tmpdir(), 'ckpt-upload-home-'));
});

afterAll(async () => {
  s3?.destroy();
  storage?.destroy();
  await server?.close();
  await deleteNamespace(redis, ns);
  await redis.quit();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The real storage, counting the multipart calls; `failNextUpdate` loses the next record write. */
function harness() {
  const calls = { create: 0, presignParts: 0 };
  const counted: CheckpointStorage = {
    presignPut: (bucket, key, expires) => storage.presignPut(bucket, key, expires),
    listPrefix: (bucket, prefix) => storage.listPrefix(bucket, prefix),
    createMultipartUpload: (bucket, key) => {
      calls.create += 1;
      return storage.createMultipartUpload(bucket, key);
    },
    presignUploadPart: (bucket, key, uploadId, part, expires) => {
      calls.presignParts += 1;
      return storage.presignUploadPart(bucket, key, uploadId, part, expires);
    },
    completeMultipartUpload: (bucket, key, uploadId, parts) => storage.completeMultipartUpload(bucket, key, uploadId, parts),
    abortMultipartUpload: (bucket, key, uploadId) => storage.abortMultipartUpload(bucket, key, uploadId),
  };
  const faults = { failNextUpdate: false };
  const host = new LocalHost(home);
  const deps: CheckpointDeps = {
    store: {
      mustGet: (id) => store.mustGet(id),
      update: (...args: Parameters<JobStore['update']>) => {
        if (!faults.failNextUpdate) return store.update(...args);
        faults.failNextUpdate = false;
        return Promise.reject(new Error('the record write was lost'));
      },
    },
    shell: host,
    storage: counted,
    timings: defaultTimings(),
  };
  return { deps, calls, faults, host };
}

/** A job in training whose CHECKPOINT_DIR holds `files` (path under checkpoints/ → bytes). */
async function jobWith(files: Record<string, Buffer>): Promise<JobRecord> {
  const id = newJobId();
  const job = createJobRecord(
    {
      id,
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: 'print(1)', filename: 'train.py' },
        command: 'python3 train.py',
        outputUri: `s3://${BUCKET}/jobs/${id}/output/`,
        checkpoint: { syncSeconds: 5 },
      } as JobRecord['spec'],
    },
    { status: 'training' },
  );
  await store.create(job, { at: isoNow(), type: 'status', stage: 'submit', message: 'Job submitted', data: { status: 'queued' } });
  const dir = join(home, jobDir(id), 'checkpoints');
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  }
  mkdirSync(join(home, jobDir(id), '.inno'), { recursive: true });
  return job;
}

const checkpointFile = (id: string, path: string) => join(home, jobDir(id), 'checkpoints', path);
const keyOf = (id: string, path: string) => `jobs/${id}/output/checkpoints/${path}`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function sync(deps: CheckpointDeps, id: string): Promise<JobRecord> {
  await syncCheckpoints(deps, await store.mustGet(id), TARGET, logger);
  return store.mustGet(id);
}

/** What a later poll would find: the retry pause (or the round's wait) over. */
async function timePassed(id: string, what: 'retryAt' | 'nextRoundAt'): Promise<void> {
  await store.update(id, (current) => ({ ...current, checkpointSync: { ...current.checkpointSync!, [what]: 0 } }));
}

/** Waits until the host's upload run of the saved plan has ended (its lock free, its result written). */
async function hostRunEnded(host: LocalHost, id: string): Promise<void> {
  const runId = (await store.mustGet(id)).checkpointSync?.pending?.runId;
  if (!runId) throw new Error('no upload planned');
  await waitFor(async () => parseCheckpointListing((await host.exec(TARGET, listCheckpointsCommand(id, runId))).stdout).sync === 'done', {
    timeoutMs: 60_000,
    description: `the checkpoint upload run ${runId} of job ${id} ended`,
  });
}

function plannedUploadId(job: JobRecord, relPath: string): string | undefined {
  return job.checkpointSync?.pending?.entries.flatMap((entry) => entry.files).find((file) => file.relPath === relPath)?.uploadId;
}

async function objectHash(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return sha256(Buffer.from(await out.Body!.transformToByteArray()));
}

/**
 * Whether S3 still holds the multipart upload open. The embedded S3 server (s3rver) answers
 * ListMultipartUploads NotImplemented, so this asks for its completion instead: an upload that is
 * gone (completed or aborted) answers NoSuchUpload, and no object is changed by asking.
 */
async function uploadIsGone(key: string, uploadId: string): Promise<boolean> {
  const attempt = s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0"' }] },
    }),
  );
  return attempt.then(
    () => false,
    (error: { name?: string }) => error.name === 'NoSuchUpload',
  );
}

async function messages(id: string): Promise<string[]> {
  return (await store.events(id)).map((event) => event.message);
}

describe('checkpoint files over one part', () => {
  it('go up as a multipart upload of presigned parts beside single PUTs, land byte for byte, and are recorded once though settled twice', async () => {
    const { deps, calls, faults, host } = harness();
    const files = {
      'step-1/model.bin': randomBytes(2 * PART + 12_345),
      'step-1/meta.json': Buffer.from('{"step": 1}'),
      'step-1/sub/opt.bin': randomBytes(1000),
      'step-1/.complete': Buffer.alloc(0),
    };
    const job = await jobWith(files);

    const planned = await sync(deps, job.id);
    const uploadId = plannedUploadId(planned, 'step-1/model.bin');
    expect(uploadId).toEqual(expect.any(String));
    expect(plannedUploadId(planned, 'step-1/meta.json')).toBeUndefined();
    expect(calls).toEqual({ create: 1, presignParts: 3 });

    await hostRunEnded(host, job.id);
    // Killed after completing the upload, before recording it: the plan and the host's result stay.
    faults.failNextUpdate = true;
    const interrupted = await sync(deps, job.id);
    expect(interrupted.checkpoints).toEqual([]);
    expect(interrupted.checkpointSync?.pending?.runId).toBe(planned.checkpointSync?.pending?.runId);
    await timePassed(job.id, 'retryAt');
    const done = await sync(deps, job.id);

    expect(done.checkpointSync?.pending).toBeNull();
    const bytes = 2 * PART + 12_345 + 11 + 1000;
    expect(done.checkpoints).toEqual([expect.objectContaining({ name: 'step-1', step: 1, files: 3, bytes })]);
    for (const path of ['step-1/model.bin', 'step-1/meta.json', 'step-1/sub/opt.bin']) {
      expect(await objectHash(keyOf(job.id, path))).toBe(sha256(files[path as keyof typeof files]));
    }
    expect((await storage.listPrefix(BUCKET, keyOf(job.id, ''))).map((o) => o.key).sort()).toEqual(
      ['step-1/meta.json', 'step-1/model.bin', 'step-1/sub/opt.bin'].map((path) => keyOf(job.id, path)),
    );
    expect(await uploadIsGone(keyOf(job.id, 'step-1/model.bin'), uploadId!)).toBe(true);
    expect(calls.create).toBe(1);
    expect((await messages(job.id)).filter((m) => m.startsWith('Checkpoint "step-1" synced'))).toHaveLength(1);
  });

  it('are re-presigned into the saved multipart upload when the monitor died before starting the host run', async () => {
    const { deps, calls, host } = harness();
    const model = randomBytes(PART + 1);
    const job = await jobWith({ 'step-2/model.bin': model, 'step-2/.complete': Buffer.alloc(0) });

    host.failUploads = 1;
    const planned = await sync(deps, job.id);
    const uploadId = plannedUploadId(planned, 'step-2/model.bin');
    expect(uploadId).toEqual(expect.any(String));
    expect(calls).toEqual({ create: 1, presignParts: 2 });
    expect(await messages(job.id)).toContainEqual(
      expect.stringMatching(/^Checkpoint sync failed, retrying next round: the SSH connection/),
    );

    await timePassed(job.id, 'retryAt');
    const restarted = await sync(deps, job.id);
    expect(plannedUploadId(restarted, 'step-2/model.bin')).toBe(uploadId);
    expect(calls).toEqual({ create: 1, presignParts: 4 });
    await hostRunEnded(host, job.id);
    const done = await sync(deps, job.id);

    expect(done.checkpoints).toEqual([expect.objectContaining({ name: 'step-2', files: 1, bytes: PART + 1 })]);
    expect(await objectHash(keyOf(job.id, 'step-2/model.bin'))).toBe(sha256(model));
    expect(await uploadIsGone(keyOf(job.id, 'step-2/model.bin'), uploadId!)).toBe(true);
  });

  it('whose parts did not all go up have their upload aborted, and the entry syncs next round in a new one', async () => {
    const { deps, calls, host } = harness();
    const job = await jobWith({ 'step-3/model.bin': randomBytes(PART + 100), 'step-3/.complete': Buffer.alloc(0) });
    host.failUploads = 1;
    const first = plannedUploadId(await sync(deps, job.id), 'step-3/model.bin');
    // The file grows to three parts after the plan counted two: the host script refuses to cut it.
    const tail = randomBytes(PART);
    appendFileSync(checkpointFile(job.id, 'step-3/model.bin'), tail);
    await timePassed(job.id, 'retryAt');
    await sync(deps, job.id);
    await hostRunEnded(host, job.id);

    const failed = await sync(deps, job.id);
    expect(failed.checkpoints).toEqual([]);
    expect(failed.checkpointSync?.pending).toBeNull();
    expect(await messages(job.id)).toContainEqual(
      expect.stringMatching(/^Checkpoint "step-3" did not sync, retrying next round: "step-3\/model\.bin": .*not 2 parts/),
    );
    expect(await uploadIsGone(keyOf(job.id, 'step-3/model.bin'), first!)).toBe(true);

    await timePassed(job.id, 'nextRoundAt');
    const second = plannedUploadId(await sync(deps, job.id), 'step-3/model.bin');
    expect(second).toEqual(expect.any(String));
    expect(second).not.toBe(first);
    expect(calls.create).toBe(2);
    await hostRunEnded(host, job.id);
    const done = await sync(deps, job.id);
    expect(done.checkpoints).toEqual([expect.objectContaining({ name: 'step-3', bytes: 2 * PART + 100 })]);
    expect(await uploadIsGone(keyOf(job.id, 'step-3/model.bin'), second!)).toBe(true);
  });

  it('beyond 10,000 parts are refused with an event, and nothing of their entry is uploaded', async () => {
    const { deps, calls } = harness();
    const job = await jobWith({ 'step-4/small.bin': Buffer.from('x'), 'step-4/.complete': Buffer.alloc(0) });
    // Sparse: the listing sees the size, the disk holds nothing.
    writeFileSync(checkpointFile(job.id, 'step-4/huge.bin'), '');
    truncateSync(checkpointFile(job.id, 'step-4/huge.bin'), MAX_CHECKPOINT_FILE_BYTES + 1);

    const after = await sync(deps, job.id);
    expect(after.checkpointSync?.pending).toBeNull();
    expect(calls.create).toBe(0);
    expect(await messages(job.id)).toContainEqual(
      `Checkpoint "step-4" not synced: a file is over ${MAX_CHECKPOINT_FILE_BYTES} bytes (10,000 parts, the most one S3 multipart upload takes)`,
    );
    expect(await storage.listPrefix(BUCKET, keyOf(job.id, ''))).toEqual([]);
  });

  it('in flight when the sync after the command ended is given up have their upload aborted', async () => {
    const { deps, host } = harness();
    const job = await jobWith({ 'step-5/model.bin': randomBytes(PART + 1), 'step-5/.complete': Buffer.alloc(0) });
    host.failUploads = 1;
    const uploadId = plannedUploadId(await sync(deps, job.id), 'step-5/model.bin');
    await store.update(job.id, (current) => ({
      ...current,
      checkpointSync: { ...current.checkpointSync!, final: { since: Date.now() - FINAL_SYNC_DEADLINE_MS - 1, state: 'syncing' } },
    }));

    expect(await finalCheckpoints(deps, await store.mustGet(job.id), TARGET, logger)).toBe('done');
    const after = await store.mustGet(job.id);
    expect(after.checkpointSync).toMatchObject({ pending: null, final: { state: 'done' } });
    expect(await uploadIsGone(keyOf(job.id, 'step-5/model.bin'), uploadId!)).toBe(true);
  });
});

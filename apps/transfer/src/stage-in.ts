import { crashPoint, FileTransferError, InnoError, isoNow, type Logger } from '@inno-train/core';
import {
  checkpointContentSignature,
  inputDir,
  jobDir,
  JOB_LAYOUT,
  jobPath,
  renderStageInScript,
  type FileToInstall,
  type StageInFile,
  installAndStartCommand,
  taskFiles,
  taskScriptPath,
} from '@inno-train/host-protocol';
import { checkpointToResume, type JobRecord, type ResumedFrom } from '@inno-train/schemas';
import { parseS3Uri, type S3ObjectInfo } from '@inno-train/storage';
import {
  applyDecision,
  ensureStageQueued,
  hostTarget,
  isStopped,
  onHost,
  startTaskOnHost,
  type HostStageContext,
  type SshIdentity,
  type StepOutcome,
  type WorkflowDeps,
} from '@inno-train/workflow';
import { parseStepState, presignLifetimeSeconds, type StagePayload, type WorkflowTimings } from '@inno-train/workflow-constants';
import { stringify } from 'yaml';
import { decideTransferCheck, MAX_TRANSFER_RESTARTS, type TransferStatus } from './decide';
import { watchTransfer } from './host-status';
import { finalProgress, progressRecorder, verifiedInputsCode } from './progress';
import type { HostExecutor } from '@inno-train/host-port';
import type { TransferStorage } from './ports';

export interface TransferDeps extends WorkflowDeps {
  storage: TransferStorage;
  shell: HostExecutor;
  identity: SshIdentity;
  timings: WorkflowTimings;
  /** Requests in flight at once per stage on a host (TRANSFER_CONNECTIONS, else TRANSFER.connections). */
  connections: number;
  /**
   * The service's own bucket (S3_BUCKET): stage-out archives each job's whole train.log there, at
   * `jobs/<id>/logs/train.log`. Unset: no log is archived (the stored copy in Redis is all there is).
   */
  logBucket?: string;
}

/** Stage-in: every input goes from S3 straight to the host, in parallel, run by curl on the host. */
export async function stageInStep(deps: TransferDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const job = await deps.store.mustGet(payload.jobId);
  if (isStopped(job) || job.status !== 'staging_in') {
    await ensureStageQueued(deps, job);
    return { kind: 'done' };
  }
  return onHost(hostContext(deps, 'staging_in', logger), job, payload.step, (step) =>
    step.phase !== 'running' ? startStageIn(deps, job, step) : checkStageIn(deps, job, step, logger),
  );
}

/**
 * Where a finished transfer's time went: the engine's own start and end on the host (its clock),
 * beside the stage's, so an operator (and bench:stage-times) can tell bytes moving from overhead.
 */
export function logHostTimes(logger: Logger, task: 'stage-in' | 'stage-out', status: TransferStatus, bytes: number): void {
  const { startedAt, finishedAt } = status;
  const hostMs = startedAt !== undefined && finishedAt !== undefined ? finishedAt - startedAt : undefined;
  logger.info(
    { task, bytes, hostStartedAt: startedAt, hostFinishedAt: finishedAt, hostMs, retries: status.retries },
    'transfer finished on the host',
  );
}

/** How the transfer stages treat a host that stops answering (see workflow's host-health). */
export function hostContext(deps: TransferDeps, stage: 'staging_in' | 'staging_out', logger: Logger): HostStageContext {
  return {
    deps,
    stage,
    logger,
    graceMs: deps.timings.unreachableGraceMs,
    recheckMs: Math.min(deps.timings.hostRecheckMs, deps.timings.transferPollMs),
  };
}

async function checkStageIn(deps: TransferDeps, job: JobRecord, step: StagePayload['step'], logger: Logger): Promise<StepOutcome> {
  const observed = await watchTransfer(deps.shell, hostTarget(job, deps.identity), job.id, 'stage-in', {
    waitMs: deps.timings.transferPollMs,
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    onProgress: progressRecorder(deps.store, job.id, 'staging_in'),
  });
  const state = parseStepState('staging_in', step);
  const decision = decideTransferCheck({
    state: observed,
    step: state,
    now: Date.now(),
    deadlineMs: deps.timings.transferDeadlineMs,
    // The check itself waited on the host: look again at once.
    pollMs: 0,
    maxRestarts: MAX_TRANSFER_RESTARTS,
    what: {
      noun: 'inputs',
      failedCode: verifiedInputsCode(observed),
      failedMessage: 'Could not fetch inputs onto the host',
    },
  });
  if (decision.kind === 'restart') {
    logger.warn({ restarts: decision.step.restarts }, 'stage-in script not running and no status; restarting');
    return startStageIn(deps, job, decision.step);
  }
  if (decision.kind !== 'finished') return applyDecision(deps, job.id, 'staging_in', decision);
  const elapsedMs = Date.now() - (state.startedAt ?? Date.now());
  const bytes = decision.status.bytes ?? state.bytes ?? 0;
  const restored = job.resumedFrom ? `, checkpoint ${JSON.stringify(job.resumedFrom.name)} among them` : '';
  const verified = decision.status.verified ? `, ${decision.status.verified} checked against S3's checksum` : '';
  const message = `Inputs on the host: ${state.files} files, ${bytes} bytes in ${(elapsedMs / 1000).toFixed(1)} s${verified}${restored}`;
  const transfer = finalProgress('staging_in', bytes, state.files ?? 0, elapsedMs);
  logHostTimes(logger, 'stage-in', decision.status, bytes);
  return applyDecision(deps, job.id, 'staging_in', {
    kind: 'advance',
    transition: 'inputs_ready',
    message,
    patch: (current) => {
      current.transfer = transfer;
    },
  });
}

async function startStageIn(deps: TransferDeps, job: JobRecord, step: StagePayload['step']): Promise<StepOutcome> {
  const expires = presignLifetimeSeconds(deps.timings);
  const restore = await planCheckpointRestore(deps.storage, job, expires);
  const files = [...(await planInputs(deps.storage, job, expires)), ...(restore?.files ?? [])];
  await recordRestore(deps, job.id, restore);
  const target = hostTarget(job, deps.identity);
  const script = renderStageInScript({
    jobDir: jobDir(job.id),
    files,
    connections: deps.connections,
    statusFile: taskFiles('stage-in').result,
    progressFile: taskFiles('stage-in').progress,
  });
  const config = stringify(job.spec.config ?? {});
  const hostFiles: FileToInstall[] = [
    { path: taskScriptPath(job.id, 'stage-in'), content: script, mode: 0o700 },
    { path: jobPath(job.id, JOB_LAYOUT.config), content: config, mode: 0o644 },
    ...('inline' in job.spec.script
      ? [{ path: jobPath(job.id, job.spec.script.filename), content: job.spec.script.inline, mode: 0o644 }]
      : []),
  ];
  // One round trip: the job directory's layout, no status of an earlier run (the start runs the
  // task again), the task's files, and the start.
  await startTaskOnHost(deps.shell, target, installAndStartCommand(job.id, 'stage-in', hostFiles, { createLayout: true }), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'stage-in:start',
  });
  crashPoint('stage-in:after-start');
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  if (step.phase !== 'running' && step.restarts === undefined) {
    await deps.store.appendEvent(job.id, {
      type: 'transfer',
      stage: 'staging_in',
      message: `Fetching ${files.length} files (${bytes} bytes) from S3 on the host`,
      data: { files: files.length, bytes },
    });
  }
  // The check waits on the host for the end: it starts at once.
  return {
    kind: 'wait',
    delayMs: 0,
    step: { ...step, phase: 'running', files: files.length, bytes, startedAt: Date.now(), at: isoNow() },
  };
}

/** Every object to fetch, where it goes under the job directory, its size, checksum and a presigned GET. */
async function planInputs(storage: TransferStorage, job: JobRecord, expiresSeconds: number): Promise<StageInFile[]> {
  const wanted: { uri: string; base: string; single: boolean }[] = Object.entries(job.spec.inputs).map(([name, uri]) => ({
    uri,
    base: inputDir(name),
    single: false,
  }));
  if ('uri' in job.spec.script) wanted.push({ uri: job.spec.script.uri, base: job.spec.script.filename, single: true });
  const plans = await Promise.all(
    wanted.map(async ({ uri, base, single }) => {
      const { bucket, key } = parseS3Uri(uri);
      const found = await storage.checkInput(uri).catch((error: unknown) => {
        throw error instanceof InnoError ? new FileTransferError(error.code, error.message) : error;
      });
      const objects = found.objects.filter((object) => !object.key.endsWith('/'));
      const trustEtag = await etagsAreMd5(storage, bucket, objects[0]);
      return Promise.all(
        objects.map(async (object) => ({
          url: await storage.presignGet(bucket, object.key, expiresSeconds),
          relPath: single
            ? base
            : found.kind === 'object'
              ? `${base}/${object.key.split('/').pop()}`
              : `${base}/${object.key.slice(key.length)}`,
          size: object.size,
          ...(await publishedChecksum(storage, bucket, object, found.kind === 'object', trustEtag)),
        })),
      );
    }),
  );
  return plans.flat();
}

/** The checkpoint stage-in restores, its presigned downloads, and what the record keeps of it. */
export interface CheckpointRestore {
  resumedFrom: ResumedFrom;
  /** S3 URI the files come from. */
  uri: string;
  /** The other job the checkpoint comes from (`resumeFrom`), or null for the job's own. */
  fromJob: string | null;
  files: StageInFile[];
}

/**
 * What the host checks a download against: the MD5 a single-part ETag is, else S3's full-object
 * SHA-256 when the object has one (asked for objects listed with a SHA256 checksum, or a single
 * object named by the job, whose listing says nothing), else nothing but the size. The ETag also
 * names the object's version, so a restart resumes a partial download only of the same bytes.
 */
export async function publishedChecksum(
  storage: Pick<TransferStorage, 'objectSha256'>,
  bucket: string,
  object: S3ObjectInfo,
  ask: boolean,
  trustEtag = true,
): Promise<Pick<StageInFile, 'md5' | 'sha256' | 'etag'>> {
  const etag = object.etag ? { etag: object.etag } : {};
  const md5 = trustEtag ? singlePartMd5(object.etag) : null;
  if (md5) return { md5, ...etag };
  if (!ask && !object.checksumAlgorithms?.includes('SHA256')) return etag;
  const sha256 = await storage.objectSha256(bucket, object.key);
  return sha256 ? { sha256, ...etag } : etag;
}

/**
 * Whether single-part ETags of these objects are MD5s: not under SSE-KMS or customer keys, where S3's
 * ETag is opaque. One HEAD of one object stands for the input: its objects share the bucket's default
 * encryption (a prefix mixing KMS and other objects would fail verification on the KMS ones). No
 * object, or no MD5-looking ETag to trust: no HEAD.
 */
export async function etagsAreMd5(
  storage: Pick<TransferStorage, 'headObject'>,
  bucket: string,
  object: S3ObjectInfo | undefined,
): Promise<boolean> {
  if (!object || !singlePartMd5(object.etag)) return true;
  const head = await storage.headObject(bucket, object.key);
  return !head?.encryption || head.encryption === 'AES256';
}

/** The MD5 (lowercase hex) an ETag is, when it is one: 32 hex digits, no `-N` part count. */
export function singlePartMd5(etag: string | undefined): string | null {
  const match = /^"?([0-9a-fA-F]{32})"?$/.exec(etag ?? '');
  return match ? match[1]!.toLowerCase() : null;
}

/**
 * The checkpoint to restore: the job's own latest synced one (checkpointToResume), else the one
 * `resumeFrom` named in another job. As downloads into `CHECKPOINT_DIR/<name>`: the objects under its
 * URI in S3 now, each with a presigned GET. A first run with no `resumeFrom` has none, and so does a
 * job whose own checkpoint is gone from S3: both start fresh (null). A `resumeFrom` checkpoint gone
 * from S3 fails the job instead: starting from step 0 is not what was asked for.
 */
export async function planCheckpointRestore(
  storage: Pick<TransferStorage, 'listPrefix' | 'presignGet' | 'objectSha256' | 'headObject'>,
  job: Pick<JobRecord, 'checkpoints'> & Partial<Pick<JobRecord, 'resumeSource'>>,
  expiresSeconds: number,
): Promise<CheckpointRestore | null> {
  const own = checkpointToResume(job.checkpoints);
  const checkpoint = own ?? job.resumeSource;
  if (!checkpoint) return null;
  const { bucket, key } = parseS3Uri(checkpoint.uri);
  const kind = checkpoint.uri.endsWith('/') ? 'dir' : 'file';
  const objects = (await storage.listPrefix(bucket, key)).filter((object) =>
    kind === 'dir' ? !object.key.endsWith('/') && object.key.length > key.length : object.key === key,
  );
  if (objects.length === 0 && !own && job.resumeSource) {
    const { name, jobId, uri } = job.resumeSource;
    throw new FileTransferError('checkpoint_not_found', `resumeFrom: checkpoint ${name} of job ${jobId} is no longer in S3 (${uri})`);
  }
  if (objects.length === 0) return null;
  const base = `${JOB_LAYOUT.checkpoints}/${checkpoint.name}`;
  const listed = objects.map((object) => ({ object, path: kind === 'dir' ? object.key.slice(key.length) : checkpoint.name }));
  const trustEtag = await etagsAreMd5(storage, bucket, objects[0]);
  const files = await Promise.all(
    listed.map(async ({ object, path }) => ({
      url: await storage.presignGet(bucket, object.key, expiresSeconds),
      relPath: kind === 'dir' ? `${base}/${path}` : base,
      size: object.size,
      ...(await publishedChecksum(storage, bucket, object, false, trustEtag)),
    })),
  );
  return {
    uri: checkpoint.uri,
    fromJob: own ? null : (job.resumeSource?.jobId ?? null),
    files,
    resumedFrom: {
      name: checkpoint.name,
      step: checkpoint.step,
      kind,
      files: files.length,
      bytes: files.reduce((sum, file) => sum + file.size, 0),
      signature: checkpointContentSignature(listed.map(({ object, path }) => ({ path, size: object.size }))),
    },
  };
}

/**
 * Saves which checkpoint this instance resumes from (the monitor renders RESUME_FROM from it), with
 * its event in the same write; a rerun with the same plan changes nothing and events nothing.
 */
async function recordRestore(deps: TransferDeps, id: string, restore: CheckpointRestore | null): Promise<void> {
  const resumedFrom = restore?.resumedFrom ?? null;
  const events = restore ? [restoreEvent(restore)] : [];
  await deps.store.update(
    id,
    (current) => (JSON.stringify(current.resumedFrom) === JSON.stringify(resumedFrom) ? null : { ...current, resumedFrom }),
    events,
  );
}

function restoreEvent({ resumedFrom: { name, step, files, bytes }, uri, fromJob }: CheckpointRestore) {
  const of = fromJob ? ` of job ${fromJob}` : '';
  return {
    type: 'transfer' as const,
    stage: 'staging_in' as const,
    message: `Restoring checkpoint ${name}${of} (${files} files, ${bytes} bytes) from ${uri} into CHECKPOINT_DIR/${name}; RESUME_FROM points at it`,
    data: { checkpoint: name, step, files, bytes, ...(fromJob ? { jobId: fromJob } : {}) },
  };
}

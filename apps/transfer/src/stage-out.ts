import { crashPoint, FileTransferError, isoNow, type Logger } from '@inno-train/core';
import {
  jobDir,
  JOB_LAYOUT,
  listStageOutCommand,
  parseStageOutListing,
  renderStageOutScript,
  installAndStartCommand,
  MULTIPART_THRESHOLD_BYTES,
  partCount,
  taskFiles,
  taskScriptPath,
  uploadPartSize,
  type StageOutUpload,
} from '@inno-train/host-protocol';
import type { JobRecord } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import {
  applyDecision,
  ensureStageQueued,
  hostTarget,
  isStopped,
  onHost,
  startTaskOnHost,
  type Decision,
  type StepOutcome,
} from '@inno-train/workflow';
import { parseStepState, presignLifetimeSeconds, TRANSFER, type StagePayload } from '@inno-train/workflow-constants';
import { stringify } from 'yaml';
import { decideTransferCheck, MAX_TRANSFER_RESTARTS, setAsideLogFailure, type DetachedState, type TransferStatus } from './decide';
import { watchTransfer } from './host-status';
import { finalProgress, progressRecorder } from './progress';
import { uploadProblem } from './verify-upload';
import { abortLogUpload, checkLogArchive, completeLogUpload, logUpload, planLog, type LogArchive } from './log-archive';
import { hostContext, logHostTimes, type TransferDeps } from './stage-in';

interface PlannedUpload {
  relPath: string;
  key: string;
  size: number;
  uploadId?: string;
  partSize?: number;
}

/**
 * Stage-out: everything under output/ goes from the host straight to the job's output URI (large
 * files in presigned multipart parts). Runs after failed training too: partial outputs help. The
 * whole train.log goes up in the same script to the service's bucket (logArchiveKey), so the log
 * outlives the host and the capped copy in Redis; a log that does not make it never fails the job.
 */
export async function stageOutStep(deps: TransferDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const job = await deps.store.mustGet(payload.jobId);
  if (isStopped(job) || job.status !== 'staging_out') {
    await ensureStageQueued(deps, job);
    return { kind: 'done' };
  }
  return onHost(hostContext(deps, 'staging_out', logger), job, payload.step, (step) =>
    step.phase !== 'running' ? startStageOut(deps, job, step, logger) : checkStageOut(deps, job, step, logger),
  );
}

async function checkStageOut(deps: TransferDeps, job: JobRecord, step: StagePayload['step'], logger: Logger): Promise<StepOutcome> {
  const seen = await watchTransfer(deps.shell, hostTarget(job, deps.identity), job.id, 'stage-out', {
    waitMs: deps.timings.transferPollMs,
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    onProgress: progressRecorder(deps.store, job.id, 'staging_out'),
  });
  // The log's own failure is set aside here: it is reported as an event, the outputs decide.
  const aside = seen.state === 'done' ? setAsideLogFailure(seen.status, JOB_LAYOUT.trainLog) : null;
  const observed: DetachedState<TransferStatus> = aside ? { state: 'done', status: aside.status } : seen;
  const state = parseStepState('staging_out', step);
  const decision = decideTransferCheck({
    state: observed,
    step: state,
    now: Date.now(),
    deadlineMs: deps.timings.transferDeadlineMs,
    // The check itself waited on the host: look again at once.
    pollMs: 0,
    maxRestarts: MAX_TRANSFER_RESTARTS,
    what: {
      noun: 'outputs',
      failedCode: 'output_transfer_failed',
      failedMessage: 'Could not upload outputs',
      ...(job.pendingError ? { failedSuffix: `; training had failed: ${job.pendingError.code}` } : {}),
    },
  });
  if (decision.kind === 'restart') {
    logger.warn({ restarts: decision.step.restarts }, 'stage-out script not running and no status; starting over');
    return startStageOut(deps, job, decision.step, logger);
  }
  if (decision.kind !== 'finished') return applyDecision(deps, job.id, 'staging_out', decision);
  const uploads = job.stageOutPlan ?? [];
  logHostTimes(logger, 'stage-out', decision.status, decision.status.bytes ?? 0);
  await completeUploads(deps, job, uploads, decision.status);
  const logProblem = aside?.logFailure ?? (await completeLogUpload(deps, job.logArchive, decision.status));
  crashPoint('stage-out:after-complete');
  const archived = await checkLogArchive(deps, job, logProblem, logger);
  return applyDecision(deps, job.id, 'staging_out', await finish(deps, job, { uploads, status: decision.status }, state, archived));
}

async function startStageOut(deps: TransferDeps, job: JobRecord, step: StagePayload['step'], logger: Logger): Promise<StepOutcome> {
  const target = hostTarget(job, deps.identity);
  const { bucket, key: prefix } = parseS3Uri(job.spec.outputUri);
  // Our own rendered config, beside the outputs (a few bytes we generated, not job data).
  await deps.storage.putSmallObject(bucket, `${prefix}config.yaml`, stringify(job.spec.config ?? {}));
  const { uploads: planned, log } = job.stageOutPlan
    ? { uploads: job.stageOutPlan, log: job.logArchive }
    : await fixPlan(deps, job, bucket, prefix, logger);
  crashPoint('stage-out:after-plan');
  const expires = presignLifetimeSeconds(deps.timings);
  const uploads: StageOutUpload[] = [];
  for (const file of planned) {
    if (!file.uploadId) {
      uploads.push({
        kind: 'put',
        relPath: `${JOB_LAYOUT.output}/${file.relPath}`,
        url: await deps.storage.presignPut(bucket, file.key, expires),
      });
      continue;
    }
    const partSize = file.partSize ?? TRANSFER.partSizeBytes;
    const parts = await Promise.all(
      Array.from({ length: partCount(file.size, partSize) }, async (_, i) => ({
        partNumber: i + 1,
        url: await deps.storage.presignUploadPart(bucket, file.key, file.uploadId!, i + 1, expires),
      })),
    );
    uploads.push({
      kind: 'multipart',
      relPath: `${JOB_LAYOUT.output}/${file.relPath}`,
      partSize,
      parts,
      uploadId: file.uploadId,
      size: file.size,
    });
  }
  if (log && !log.archivedAt) uploads.push(await logUpload(deps, log, expires));
  const bytes = planned.reduce((sum, file) => sum + file.size, 0);
  const script = renderStageOutScript({
    jobDir: jobDir(job.id),
    statusFile: taskFiles('stage-out').result,
    progressFile: taskFiles('stage-out').progress,
    journalFile: taskFiles('stage-out').journal,
    connections: deps.connections,
    uploads,
  });
  // One round trip: no status of an earlier run (the start runs the task again; a run still going
  // keeps its lock), the script, and the start.
  const files = [{ path: taskScriptPath(job.id, 'stage-out'), content: script, mode: 0o700 }];
  await startTaskOnHost(deps.shell, target, installAndStartCommand(job.id, 'stage-out', files), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'stage-out:start',
  });
  if (step.restarts === undefined) {
    await deps.store.appendEvent(job.id, {
      type: 'transfer',
      stage: 'staging_out',
      message:
        `Uploading ${planned.length} files (${bytes} bytes) from the host to ${job.spec.outputUri}` +
        (log ? `, and the training log (${log.size} bytes) to ${log.uri}` : ''),
      data: { files: planned.length, bytes, ...(log ? { logBytes: log.size } : {}) },
    });
  }
  // The check waits on the host for the end: it starts at once.
  return { kind: 'wait', delayMs: 0, step: { ...step, phase: 'running', startedAt: Date.now(), at: isoNow() } };
}

/**
 * Lists the outputs (and train.log's size), opens multipart uploads for the large ones and saves
 * the plan on the job. A worker that died after planning left its plan there: the rerun reuses it,
 * so parts a still-running upload script sends belong to the uploads that will be completed. If two
 * workers plan at once, the first saved plan wins and the loser aborts its own uploads.
 */
async function fixPlan(
  deps: TransferDeps,
  job: JobRecord,
  bucket: string,
  prefix: string,
  logger: Logger,
): Promise<{ uploads: PlannedUpload[]; log: LogArchive | null }> {
  const { outputs: listed, logSize } = parseStageOutListing(
    (
      await deps.shell.exec(hostTarget(job, deps.identity), listStageOutCommand(job.id), {
        timeoutMs: deps.timings.sshCommandTimeoutMs,
        label: 'stage-out:list',
      })
    ).stdout,
  );
  const plan: PlannedUpload[] = [];
  for (const file of listed) {
    const key = `${prefix}${file.relPath}`;
    if (file.size <= MULTIPART_THRESHOLD_BYTES) {
      plan.push({ relPath: file.relPath, key, size: file.size });
      continue;
    }
    const partSize = planPartSize(file.relPath, file.size);
    const uploadId = await deps.storage.createMultipartUpload(bucket, key);
    plan.push({ relPath: file.relPath, key, size: file.size, uploadId, partSize });
  }
  const log = await planLog(deps, job, logSize, logger);
  const { job: saved, changed } = await deps.store.update(job.id, (current) => {
    if (current.stageOutPlan) return null;
    current.stageOutPlan = plan;
    // Set with the plan (a restart on a new host deletes the plan, and the next one replaces this).
    current.logArchive = log;
    return current;
  });
  if (changed) return { uploads: plan, log };
  for (const upload of plan.filter((p) => p.uploadId))
    await deps.storage.abortMultipartUpload(bucket, upload.key, upload.uploadId!).catch(() => undefined);
  if (log?.uploadId) await abortLogUpload(deps, log);
  return { uploads: saved.stageOutPlan ?? [], log: saved.logArchive };
}

/** The part size of an output's upload; an output S3 cannot take in one object fails the job. */
function planPartSize(relPath: string, size: number): number {
  try {
    return uploadPartSize(size);
  } catch {
    throw new FileTransferError('output_transfer_failed', `Output ${relPath} (${size} bytes) is larger than S3 takes in one object`, {
      retryable: false,
    });
  }
}

async function completeUploads(deps: TransferDeps, job: JobRecord, uploads: PlannedUpload[], status: TransferStatus): Promise<void> {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  for (const upload of uploads) {
    if (!upload.uploadId) continue;
    const parts = status.parts?.[`${JOB_LAYOUT.output}/${upload.relPath}`];
    if (!parts || parts.length === 0) throw new FileTransferError('output_transfer_failed', `No parts recorded for ${upload.relPath}`);
    try {
      await deps.storage.completeMultipartUpload(
        bucket,
        upload.key,
        upload.uploadId,
        [...parts].sort((a, b) => a.partNumber - b.partNumber),
      );
    } catch (error) {
      // A worker that died after completing leaves the upload gone and the object in place; the
      // rerun's completion then answers NoSuchUpload. finish() checks every object next.
      if ((error as { code?: unknown }).code !== 'storage_upload_not_found') throw error;
    }
  }
}

/**
 * Verifies every upload in S3 (uploadProblem: its size, and a multipart ETag's part count); the
 * decision records the outputs and ends the job.
 */
async function finish(
  deps: TransferDeps,
  job: JobRecord,
  done: { uploads: PlannedUpload[]; status: TransferStatus },
  step: StagePayload['step'],
  archived: LogArchive | null,
): Promise<Decision> {
  const { uploads } = done;
  const { bucket, key: prefix } = parseS3Uri(job.spec.outputUri);
  const stored = new Map((await deps.storage.listPrefix(bucket, prefix)).map((object) => [object.key, object]));
  const problems = uploads.flatMap((upload) => {
    const problem = uploadProblem(upload, stored.get(upload.key), done.status.parts?.[`${JOB_LAYOUT.output}/${upload.relPath}`]);
    return problem ? [`${upload.relPath} (${problem})`] : [];
  });
  if (problems.length > 0) {
    throw new FileTransferError('output_transfer_failed', `Outputs failed verification in S3: ${problems.join(', ')}`, {
      retryable: false,
    });
  }
  const outputs = uploads.map((upload) => ({ key: upload.key, size: upload.size }));
  const bytes = outputs.reduce((sum, o) => sum + o.size, 0);
  const elapsedMs = Date.now() - Number(step.startedAt ?? Date.now());
  const reused = done.status.reused ? `; ${done.status.reused} parts already sent by an earlier run` : '';
  const transfer = finalProgress('staging_out', bytes, outputs.length, elapsedMs);
  const pending = job.pendingError;
  return {
    kind: 'advance',
    transition: pending ? 'outputs_uploaded_after_failure' : 'outputs_uploaded',
    message:
      `${outputs.length} outputs (${bytes} bytes) uploaded and verified in ${(elapsedMs / 1000).toFixed(1)} s${reused}` +
      (archived ? `; training log (${archived.size} bytes) archived` : '') +
      `; job ${pending ? `failed: ${pending.code}` : 'succeeded'}`,
    patch: (current) => {
      current.outputs = outputs;
      current.transfer = transfer;
      current.logArchive = archived;
      if (pending) current.error = pending;
    },
  };
}

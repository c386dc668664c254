import { crashPoint, FileTransferError, isoNow, type Logger } from '@inno-train/core';
import {
  jobDir,
  JOB_LAYOUT,
  listOutputsCommand,
  parseListOutputs,
  renderStageOutScript,
  resetTaskCommand,
  startTaskCommand,
  taskFiles,
  taskScriptPath,
  type StageOutUpload,
} from '@inno-train/host-protocol';
import type { JobRecord } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import { applyDecision, ensureStageQueued, hostTarget, isStopped, onHost, type Decision, type StepOutcome } from '@inno-train/workflow';
import { parseStepState, presignLifetimeSeconds, TRANSFER, type StagePayload } from '@inno-train/workflow-constants';
import { stringify } from 'yaml';
import { decideTransferCheck, MAX_TRANSFER_RESTARTS, type TransferStatus } from './decide';
import { observeTransfer } from './host-status';
import { hostContext, type TransferDeps } from './stage-in';

interface PlannedUpload {
  relPath: string;
  key: string;
  size: number;
  uploadId?: string;
}

/**
 * Stage-out: everything under output/ goes from the host straight to the job's output URI (large
 * files in presigned multipart parts). Runs after failed training too: partial outputs help.
 */
export async function stageOutStep(deps: TransferDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const job = await deps.store.mustGet(payload.jobId);
  if (isStopped(job) || job.status !== 'staging_out') {
    await ensureStageQueued(deps, job);
    return { kind: 'done' };
  }
  return onHost(hostContext(deps, 'staging_out', logger), job, payload.step, (step) =>
    step.phase !== 'running' ? startStageOut(deps, job, step) : checkStageOut(deps, job, step, logger),
  );
}

async function checkStageOut(deps: TransferDeps, job: JobRecord, step: StagePayload['step'], logger: Logger): Promise<StepOutcome> {
  const observed = await observeTransfer(deps.shell, hostTarget(job, deps.identity), job.id, 'stage-out', deps.timings.sshCommandTimeoutMs);
  const state = parseStepState('staging_out', step);
  const decision = decideTransferCheck({
    state: observed,
    step: state,
    now: Date.now(),
    deadlineMs: deps.timings.transferDeadlineMs,
    pollMs: deps.timings.transferPollMs,
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
    return startStageOut(deps, job, decision.step);
  }
  if (decision.kind !== 'finished') return applyDecision(deps, job.id, 'staging_out', decision);
  const uploads = job.stageOutPlan ?? [];
  await completeUploads(deps, job, uploads, decision.status);
  crashPoint('stage-out:after-complete');
  return applyDecision(deps, job.id, 'staging_out', await finish(deps, job, uploads, state));
}

async function startStageOut(deps: TransferDeps, job: JobRecord, step: StagePayload['step']): Promise<StepOutcome> {
  const target = hostTarget(job, deps.identity);
  const { bucket, key: prefix } = parseS3Uri(job.spec.outputUri);
  // Our own rendered config, beside the outputs (a few bytes we generated, not job data).
  await deps.storage.putSmallObject(bucket, `${prefix}config.yaml`, stringify(job.spec.config ?? {}));
  const planned = job.stageOutPlan ?? (await fixPlan(deps, job, bucket, prefix));
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
    const count = Math.ceil(file.size / TRANSFER.partSizeBytes);
    const parts = await Promise.all(
      Array.from({ length: count }, async (_, i) => ({
        partNumber: i + 1,
        url: await deps.storage.presignUploadPart(bucket, file.key, file.uploadId!, i + 1, expires),
      })),
    );
    uploads.push({ kind: 'multipart', relPath: `${JOB_LAYOUT.output}/${file.relPath}`, partSize: TRANSFER.partSizeBytes, parts });
  }
  const bytes = planned.reduce((sum, file) => sum + file.size, 0);
  const script = renderStageOutScript({
    jobDir: jobDir(job.id),
    statusFile: taskFiles('stage-out').result,
    parallelism: TRANSFER.parallelism,
    uploads,
  });
  // No status of an earlier run: the start below runs the task again (a run still going keeps its lock).
  await deps.shell.exec(target, resetTaskCommand(job.id, 'stage-out'), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'stage-out:prepare',
  });
  await deps.shell.upload(target, taskScriptPath(job.id, 'stage-out'), script, 0o700, { label: 'stage-out:upload-script' });
  await deps.shell.exec(target, startTaskCommand(job.id, 'stage-out'), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'stage-out:start',
  });
  if (step.restarts === undefined) {
    await deps.store.appendEvent(job.id, {
      type: 'transfer',
      stage: 'staging_out',
      message: `Uploading ${planned.length} files (${bytes} bytes) from the host to ${job.spec.outputUri}`,
      data: { files: planned.length, bytes },
    });
  }
  return { kind: 'wait', delayMs: deps.timings.transferPollMs, step: { ...step, phase: 'running', startedAt: Date.now(), at: isoNow() } };
}

/**
 * Lists the outputs, opens multipart uploads for the large ones and saves the plan on the job. A
 * worker that died after planning left its plan there: the rerun reuses it, so parts a still-running
 * upload script sends belong to the uploads that will be completed. If two workers plan at once,
 * the first saved plan wins and the loser aborts its own uploads.
 */
async function fixPlan(deps: TransferDeps, job: JobRecord, bucket: string, prefix: string): Promise<PlannedUpload[]> {
  const listed = parseListOutputs(
    (
      await deps.shell.exec(hostTarget(job, deps.identity), listOutputsCommand(job.id), {
        timeoutMs: deps.timings.sshCommandTimeoutMs,
        label: 'stage-out:list',
      })
    ).stdout,
  );
  const plan: PlannedUpload[] = [];
  for (const file of listed) {
    const key = `${prefix}${file.relPath}`;
    const uploadId = file.size > TRANSFER.partSizeBytes ? await deps.storage.createMultipartUpload(bucket, key) : undefined;
    plan.push({ relPath: file.relPath, key, size: file.size, ...(uploadId ? { uploadId } : {}) });
  }
  const { job: saved, changed } = await deps.store.update(job.id, (current) => {
    if (current.stageOutPlan) return null;
    current.stageOutPlan = plan;
    return current;
  });
  if (changed) return plan;
  for (const upload of plan.filter((p) => p.uploadId))
    await deps.storage.abortMultipartUpload(bucket, upload.key, upload.uploadId!).catch(() => undefined);
  return saved.stageOutPlan ?? [];
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
      // rerun's completion then answers NoSuchUpload. finish() checks every object's size next.
      if ((error as { code?: unknown }).code !== 'storage_upload_not_found') throw error;
    }
  }
}

/** Checks every upload landed with its size; the decision records the outputs and ends the job. */
async function finish(deps: TransferDeps, job: JobRecord, uploads: PlannedUpload[], step: StagePayload['step']): Promise<Decision> {
  const { bucket, key: prefix } = parseS3Uri(job.spec.outputUri);
  const stored = new Map((await deps.storage.listPrefix(bucket, prefix)).map((object) => [object.key, object.size]));
  const missing = uploads.filter((upload) => stored.get(upload.key) !== upload.size);
  if (missing.length > 0) {
    throw new FileTransferError(
      'output_transfer_failed',
      `Outputs missing or of the wrong size in S3: ${missing.map((m) => m.relPath).join(', ')}`,
      { retryable: false },
    );
  }
  const outputs = uploads.map((upload) => ({ key: upload.key, size: upload.size }));
  const bytes = outputs.reduce((sum, o) => sum + o.size, 0);
  const seconds = Math.round((Date.now() - Number(step.startedAt ?? Date.now())) / 1000);
  const pending = job.pendingError;
  return {
    kind: 'advance',
    transition: pending ? 'outputs_uploaded_after_failure' : 'outputs_uploaded',
    message: `${outputs.length} outputs (${bytes} bytes) uploaded in ${seconds} s; job ${pending ? `failed: ${pending.code}` : 'succeeded'}`,
    patch: (current) => {
      current.outputs = outputs;
      if (pending) current.error = pending;
    },
  };
}

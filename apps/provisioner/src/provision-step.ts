import { errorCode, InnoError, isoNow, type Logger } from '@inno-train/core';
import { isInstanceGone, isJobErrorCode, type JobErrorCode, type JobRecord } from '@inno-train/schemas';
import {
  advanceJob,
  applyDecision,
  enqueueTeardown,
  ensureStageQueued,
  failJob,
  hostTarget,
  isStopped,
  placeInLine,
  waitingMessage,
  type HostTarget,
  type StepOutcome,
} from '@inno-train/workflow';
import { isTerminal, parseStepState, type StagePayload } from '@inno-train/workflow-constants';
import { decideBoot, type BootObservation } from './boot-decision';
import { launchForJob } from './launch';
import { retireInstance } from './retire';
import { terminateNow } from './teardown-step';
import type { ProvisionDeps } from './provision-deps';

/** Lists GPUs where nvidia-smi exists; a host whose GPUs do not answer is a bad boot. */
const GPU_CHECK = 'if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L; else echo "no nvidia-smi on this host"; fi';

/**
 * One step of provisioning: launch (once per attempt), then re-read the instance until it is
 * active with an address, answers SSH and passes the GPU check; a bad boot is given back and
 * launched again elsewhere, a bounded number of times. Every wait is a delayed re-check.
 */
export async function provisionStep(deps: ProvisionDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  let job = await deps.store.mustGet(payload.jobId);
  if (isStopped(job)) {
    await ensureStageQueued(deps, job);
    // A job that launched is settled by teardown alone (launch.ts writes `settledAt: null`), even
    // with no instance left to give back: a cancel that died before queueing teardown must not
    // leave it unsettled.
    if (isTerminal(job.status) && job.settledAt === null) await enqueueTeardown(deps.queues, job.id, 'job stopped');
    return { kind: 'done' };
  }
  if (job.status === 'queued') {
    const started = await advanceJob(deps, job.id, {
      transition: 'start',
      stage: 'provisioning',
      message: 'Provisioning an instance',
      patch: (j) => {
        j.startedAt = isoNow();
      },
    });
    if (started.waiting) return waitForSlot(deps, started.job, payload, started.waiting);
    job = await deps.store.mustGet(job.id);
  }
  if (job.status !== 'provisioning') {
    await ensureStageQueued(deps, job);
    return { kind: 'done' };
  }

  if (!job.instance || job.instance.terminatedAt) {
    const outcome = await launchForJob(deps, job, logger, payload.step.waitingForCapacity === true);
    if (outcome === 'stopped') return { kind: 'done' };
    if (outcome === 'wait')
      return { kind: 'wait', delayMs: deps.timings.capacityPollMs, step: { ...payload.step, waitingForCapacity: true } };
    return { kind: 'wait', delayMs: deps.timings.bootPollMs, step: {} };
  }
  return checkBoot(deps, job, payload, logger);
}

/**
 * All of the tenant's slots are taken (or older jobs wait ahead): look again later, or at once when
 * one of its jobs ends (teardown wakes it). The job's event says why, and again when its place moves.
 */
async function waitForSlot(
  deps: ProvisionDeps,
  job: JobRecord,
  payload: StagePayload,
  waiting: { running: number; place: number },
): Promise<StepOutcome> {
  const step = parseStepState('provisioning', payload.step);
  const place = placeInLine(waiting, job.limits.maxConcurrentJobs ?? 1);
  if (step.waitingForSlot !== place) {
    await deps.store.appendEvent(job.id, {
      type: 'waiting',
      stage: 'provisioning',
      message: waitingMessage(job, waiting.running, place),
      data: { reason: 'max_concurrent_jobs', running: waiting.running, limit: job.limits.maxConcurrentJobs, place },
    });
  }
  return { kind: 'wait', delayMs: deps.timings.slotPollMs, step: { ...step, waitingForSlot: place } };
}

/** Observes the booting instance one thing at a time (cloud, SSH, GPUs) until decideBoot decides. */
async function checkBoot(deps: ProvisionDeps, job: JobRecord, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const recorded = job.instance!;
  const step = parseStepState('provisioning', payload.step);
  // A listing no older than half a boot poll, and taken after the launch (absence then means gone).
  const notBefore = Math.max(Date.now() - deps.timings.bootPollMs / 2, Date.parse(recorded.launchedAt) + 1);
  const instance = await deps.cloud.get(recorded.id, notBefore);
  const pastDeadline =
    Date.now() > Date.parse(recorded.bootDeadlineAt ?? recorded.launchedAt) + (recorded.bootDeadlineAt ? 0 : deps.timings.bootDeadlineMs);
  const seen: BootObservation = { cloud: instance ? { status: instance.status, ip: instance.ip ?? null } : null, pastDeadline };
  if (instance && !isInstanceGone(instance.status)) await recordStatus(deps, job, instance.status, instance.ip ?? null);
  let target: HostTarget | undefined;
  for (;;) {
    const decision = decideBoot(seen, step, deps.timings.bootPollMs);
    switch (decision.kind) {
      case 'retire':
        return retireInstance(deps, job, decision.reason);
      case 'wait':
        return applyDecision(deps, job.id, 'provisioning', decision);
      case 'probe_ssh':
        target = hostTarget(await deps.store.mustGet(job.id), deps.identity);
        seen.ssh = await deps.shell.probe(target, Math.min(deps.timings.sshCommandTimeoutMs, 15_000));
        if (!seen.ssh) logger.debug({ instanceId: recorded.id }, 'instance active, SSH not answering yet');
        break;
      case 'check_gpus':
        seen.gpus = await checkGpus(deps, job, target!);
        break;
      case 'ready': {
        const elapsed = Math.round((Date.now() - Date.parse(recorded.launchedAt)) / 1000);
        const gpus = `${decision.gpuLines.length} GPU line(s): ${decision.gpuLines[0]?.slice(0, 120) ?? ''}`;
        const message = `Instance ${recorded.id} is ready (${recorded.type} in ${recorded.region}, ready ${elapsed} s after launch; ${gpus})`;
        return applyDecision(deps, job.id, 'provisioning', { kind: 'advance', transition: 'instance_ready', message });
      }
    }
  }
}

/** Pins the host key seen by the probe (trust on first use), then lists the GPUs over the pinned key. */
async function checkGpus(deps: ProvisionDeps, job: JobRecord, target: HostTarget): Promise<{ ok: boolean; output: string }> {
  await pinHostKey(deps, job, target);
  const gpus = await deps.shell
    .exec({ ...target, ...pinnedKey(deps, target) }, GPU_CHECK, { timeoutMs: 60_000, label: 'boot:gpu-check' })
    .catch((error: unknown) => ({ exitCode: -1, stdout: '', stderr: String(error) }));
  return gpus.exitCode === 0 ? { ok: true, output: gpus.stdout } : { ok: false, output: gpus.stderr || gpus.stdout };
}

function pinnedKey(deps: ProvisionDeps, target: HostTarget): { hostKeyFingerprint?: string } {
  const seen = deps.shell.hostKeyFingerprint?.(target);
  return seen ? { hostKeyFingerprint: seen } : {};
}

/** Trust on first use, per instance: the key seen now is the only one accepted from here on. */
async function pinHostKey(deps: ProvisionDeps, job: JobRecord, target: HostTarget): Promise<void> {
  const seen = deps.shell.hostKeyFingerprint?.(target);
  if (!seen || target.hostKeyFingerprint) return;
  await deps.store.update(job.id, (current) => {
    if (!current.instance || current.instance.id !== job.instance?.id || current.instance.hostKeyFingerprint) return null;
    current.instance.hostKeyFingerprint = seen;
    return current;
  });
}

async function recordStatus(deps: ProvisionDeps, job: JobRecord, status: string, ip: string | null): Promise<void> {
  if (job.instance?.status === status && job.instance.ip === ip) return;
  await deps.store.update(
    job.id,
    (current) => {
      if (!current.instance || current.instance.id !== job.instance?.id) return null;
      if (current.instance.status === status && current.instance.ip === ip) return null;
      current.instance.status = status;
      current.instance.ip = ip;
      return current;
    },
    [{ type: 'instance', stage: 'provisioning', message: `Instance ${job.instance?.id} is ${status}`, data: { status } }],
  );
}

/** Provider errors that end provisioning, as the stable codes jobs show. */
function provisionErrorCode(error: Error): JobErrorCode {
  const code = error instanceof InnoError ? error.code : (error as { code?: unknown }).code;
  if (typeof code !== 'string') return 'provision_failed';
  if (code === 'global/invalid-api-key' || code === 'global/account-inactive' || code === 'global/invalid-address')
    return 'provider_auth_failed';
  if (code === 'global/quota-exceeded') return 'quota_exceeded';
  if (code.includes('/')) return 'provider_error';
  return isJobErrorCode(code) ? code : 'provision_failed';
}

/** Called when provisioning gives up: the failure is recorded and teardown follows. */
export async function provisionGaveUp(deps: ProvisionDeps, jobId: string, error: Error): Promise<void> {
  const code = provisionErrorCode(error);
  const underlying = errorCode(error, '');
  await failJob(deps, jobId, {
    code,
    message: underlying && underlying !== code ? `${underlying}: ${error.message}` : error.message,
    stage: 'provisioning',
  });
  const job = await deps.store.get(jobId);
  if (job?.instance && !job.instance.terminatedAt) await terminateNow(deps, job).catch(() => undefined);
}

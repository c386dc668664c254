import type { ConnectionOptions } from 'bullmq';
import { isoNow, type Logger } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import { isInstanceGone, type JobRecord } from '@inno-train/schemas';
import { enqueueTeardown, ensureStageQueued, failJob, type StageQueues } from '@inno-train/workflow';
import { isTerminal, RUNNING_STATUSES } from '@inno-train/workflow-constants';
import { JOB_TAG, LAUNCHED_AT_TAG, NAMESPACE_TAG, tagOf, type CloudInstance, type CloudProvider } from '@inno-train/cloud-port';
import { startSchedule } from './schedule';
import type { CloudView } from './cloud-view';

export interface ReconcilerDeps {
  store: JobStore;
  queues: StageQueues;
  lambda: Pick<CloudProvider, 'terminate'>;
  cloud: Pick<CloudView, 'list'>;
  /** How old a shared listing may be (the reconciler's own interval). */
  maxAgeMs: number;
  namespace: string;
  /** Instances younger than this are left alone: their launch may not be recorded yet. */
  graceMs: number;
  logger: Logger;
  /** Told each instance this process terminated, by reason (metrics); must not throw. */
  onTerminated?: (reason: ReconcileAction['reason']) => void;
}

export interface ReconcileAction {
  instanceId: string;
  jobId: string;
  reason: 'unknown_job' | 'job_finished' | 'orphan' | 'retired' | 'past_deadline';
}

export interface ReconcileReport {
  at: string;
  checked: number;
  ours: number;
  terminated: ReconcileAction[];
  /** Running jobs looked at by the stage sweep. */
  swept: number;
}

/**
 * One pass over every instance in the account. Instances not tagged as ours (job tag and our
 * namespace) are never touched; ours are terminated when their job is unknown, finished, or has
 * moved on to another instance, once the grace period since their launch has passed.
 */
export async function reconcileOnce(deps: ReconcilerDeps, now: number = Date.now()): Promise<ReconcileReport> {
  const { instances } = await deps.cloud.list(now - deps.maxAgeMs);
  const ours = instances.filter(
    (instance) => tagOf(instance, NAMESPACE_TAG) === deps.namespace && tagOf(instance, JOB_TAG) && !isInstanceGone(instance.status),
  );
  const terminated: ReconcileAction[] = [];
  for (const instance of ours) {
    const jobId = tagOf(instance, JOB_TAG)!;
    const launchedAt = Date.parse(tagOf(instance, LAUNCHED_AT_TAG) ?? '');
    if (!Number.isFinite(launchedAt) || now - launchedAt < deps.graceMs) continue;
    const job = await deps.store.get(jobId);
    const reason = verdict(job, instance, now, deps.graceMs);
    if (!reason) continue;
    await deps.lambda.terminate([instance.id]);
    terminated.push({ instanceId: instance.id, jobId, reason });
    deps.onTerminated?.(reason);
    deps.logger.warn({ instanceId: instance.id, jobId, reason }, `Reconciler terminated instance ${instance.id} (${reason})`);
    if (job) {
      await deps.store.appendEvent(jobId, {
        type: 'reconciler',
        stage: 'teardown',
        message: `Reconciler terminated instance ${instance.id}: ${reason}`,
        data: { instanceId: instance.id, reason },
      });
      if (reason === 'past_deadline')
        await failJob(deps, jobId, {
          code: 'deadline_exceeded',
          message: 'The job ran past every deadline it had; its instance was terminated',
          stage: 'training',
        });
      else if (job.instance?.id === instance.id) await enqueueTeardown(deps.queues, jobId, 'reconciler');
    }
  }
  const swept = await sweepRunningJobs(deps);
  return { at: isoNow(now), checked: instances.length, ours: ours.length, terminated, swept };
}

/**
 * Makes sure every running job has its stage queued. A process that died between writing a job and
 * queueing its stage (the API between create and enqueue, most of all) would otherwise leave the
 * job waiting for ever; queueing is deduplicated by stage job id, so this is a no-op for the rest.
 */
export async function sweepRunningJobs(deps: Pick<ReconcilerDeps, 'store' | 'queues'>): Promise<number> {
  let swept = 0;
  for (const status of RUNNING_STATUSES) {
    let after: string | undefined;
    for (;;) {
      const page = await deps.store.list({ status, limit: 200, ...(after ? { after } : {}) });
      for (const job of page.jobs) if (job.status === status) await ensureStageQueued(deps, job);
      swept += page.jobs.length;
      after = page.jobs.at(-1)?.id;
      if (!page.hasMore || !after) break;
    }
  }
  return swept;
}

function verdict(job: JobRecord | null, instance: CloudInstance, now: number, graceMs: number): ReconcileAction['reason'] | null {
  if (!job) return 'unknown_job';
  if (job.retiredInstances?.some((retired) => retired.id === instance.id)) return 'retired';
  const current = job.instance?.id === instance.id;
  if (isTerminal(job.status)) {
    // Teardown normally handles the current instance; the reconciler steps in after the grace.
    const finished = Date.parse(job.finishedAt ?? job.updatedAt);
    return !current || now - finished > graceMs ? 'job_finished' : null;
  }
  if (!current) return 'orphan';
  const limit = job.spec.maxRuntimeSeconds;
  const started = job.training.startedAt ? Date.parse(job.training.startedAt) : null;
  if (limit && started && now - started > limit * 1000 + 2 * graceMs) return 'past_deadline';
  return null;
}

export const RECONCILE_QUEUE = 'reconcile';

/** Runs `reconcileOnce` every `everyMs`, one run at a time across every replica. */
export function startReconciler(deps: ReconcilerDeps & { connection: ConnectionOptions; prefix: string; everyMs: number }) {
  return startSchedule({
    connection: deps.connection,
    prefix: deps.prefix,
    queue: RECONCILE_QUEUE,
    everyMs: deps.everyMs,
    logger: deps.logger,
    run: () => reconcileOnce(deps),
  });
}

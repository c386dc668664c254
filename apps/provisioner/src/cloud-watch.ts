/**
 * The cloud's own view of every running job's host. A host that dies keeps answering `active` on
 * Lambda while SSH finds it gone, but the other way round matters as much: an instance Lambda
 * reports `unhealthy`, `terminated`, `preempted` (or no longer lists) cannot finish its job, and
 * every minute a stage spends waiting on SSH for it is billed. One list call per run covers every
 * job (the account allows about one request a second), instead of one read per job.
 */
import type { ConnectionOptions } from 'bullmq';
import { isoNow, type Logger } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
import { HOST_DOWN_STATUSES, promoteStage, queueOfStatus, type StageQueues } from '@inno-train/workflow';
import { HOST_STATUSES } from '@inno-train/workflow-constants';
import type { CloudInstance } from '@inno-train/cloud-port';
import { INSTANCE_TYPES_REFRESH_MS, type CloudView } from './cloud-view';
import { startSchedule } from './schedule';

export interface CloudWatchDeps {
  store: JobStore;
  queues: StageQueues;
  /** `instanceTypes` too: the watch keeps the shared capacity answer recent for launches (cloud-view.ts). */
  cloud: Pick<CloudView, 'list'> & Partial<Pick<CloudView, 'instanceTypes'>>;
  /** How old a shared listing may be (the watch's own interval: a listing another reader made counts). */
  maxAgeMs: number;
  logger: Logger;
}

export interface CloudWatchReport {
  at: string;
  listed: number;
  watched: number;
  /** Jobs whose host the cloud reports down, newly recorded by this run. */
  down: { jobId: string; instanceId: string; status: string }[];
}

/**
 * The status to record for a job's instance, or null when there is nothing new: only "down"
 * statuses are recorded here (the boot path records the rest). An instance missing from the list
 * is gone: Lambda lists terminated instances only for a while.
 */
export function downStatus(
  recorded: Pick<InstanceInfo, 'id' | 'status' | 'terminatedAt' | 'launchedAt'>,
  listed: ReadonlyMap<string, CloudInstance>,
  listedAt: number = Number.POSITIVE_INFINITY,
): string | null {
  if (recorded.terminatedAt) return null;
  // A shared listing may be older than this instance: its absence there says nothing.
  if (!listed.has(recorded.id) && !(Date.parse(recorded.launchedAt) < listedAt)) return null;
  const status = listed.get(recorded.id)?.status ?? 'terminated';
  if (!HOST_DOWN_STATUSES.has(status) || status === recorded.status) return null;
  return status;
}

/** One pass: list every instance once, record the down ones on their jobs, wake their stages. */
export async function watchCloudOnce(deps: CloudWatchDeps): Promise<CloudWatchReport> {
  const listing = await deps.cloud.list(Date.now() - deps.maxAgeMs);
  const listed = new Map(listing.instances.map((instance) => [instance.id, instance]));
  const down: CloudWatchReport['down'] = [];
  let watched = 0;
  for (const status of HOST_STATUSES) {
    let after: string | undefined;
    for (;;) {
      const page = await deps.store.list({ status, limit: 200, ...(after ? { after } : {}) });
      for (const job of page.jobs) {
        if (job.status !== status || !job.instance) continue;
        watched++;
        const found = downStatus(job.instance, listed, listing.at);
        if (found && (await recordDown(deps, job, found, listed.has(job.instance.id))))
          down.push({ jobId: job.id, instanceId: job.instance.id, status: found });
      }
      after = page.jobs.at(-1)?.id;
      if (!page.hasMore || !after) break;
    }
  }
  await refreshInstanceTypes(deps);
  return { at: isoNow(), listed: listed.size, watched, down };
}

/** Keeps the shared capacity answer younger than launches need; a failure here fails no watch (launches then ask themselves). */
async function refreshInstanceTypes(deps: CloudWatchDeps): Promise<void> {
  if (!deps.cloud.instanceTypes) return;
  try {
    await deps.cloud.instanceTypes(Date.now() - INSTANCE_TYPES_REFRESH_MS);
  } catch (err) {
    deps.logger.warn({ err }, 'could not refresh the instance types; launches will ask for them');
  }
}

async function recordDown(deps: CloudWatchDeps, job: JobRecord, status: string, stillListed: boolean): Promise<boolean> {
  const instanceId = job.instance!.id;
  const { changed, job: updated } = await deps.store.update(
    job.id,
    (current) => {
      if (!current.instance || current.instance.id !== instanceId || current.instance.status === status) return null;
      current.instance.status = status;
      return current;
    },
    [
      {
        type: 'instance',
        stage: job.status as (typeof HOST_STATUSES)[number],
        message: `Instance ${instanceId} is ${status}${stillListed ? '' : ' (no longer listed)'} according to the cloud`,
        data: { instanceId, status },
      },
    ],
  );
  if (!changed) return false;
  deps.logger.warn({ jobId: job.id, instanceId, status }, `cloud reports instance ${instanceId} ${status}; waking the job's stage`);
  const queue = queueOfStatus(updated.status);
  if (queue) await promoteStage(deps.queues, queue, job.id, updated.hostRestarts);
  return true;
}

export const CLOUD_WATCH_QUEUE = 'cloud-watch';

/** Runs `watchCloudOnce` every `everyMs`, one run at a time across every replica. */
export function startCloudWatch(deps: CloudWatchDeps & { connection: ConnectionOptions; prefix: string; everyMs: number }) {
  return startSchedule({
    connection: deps.connection,
    prefix: deps.prefix,
    queue: CLOUD_WATCH_QUEUE,
    everyMs: deps.everyMs,
    logger: deps.logger,
    run: () => watchCloudOnce(deps),
  });
}

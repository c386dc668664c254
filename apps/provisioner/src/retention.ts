import type { Logger } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import { settledAt, type JobRecord } from '@inno-train/schemas';
import type { ConnectionOptions } from 'bullmq';
import { startSchedule } from './schedule';

/** Jobs purged per run at most: a backlog drains over several runs, never in one long script. */
const PURGE_BATCH = 200;

/**
 * A finished job's record, events and log may go once every instance it had is confirmed given
 * back: teardown reads the record until then. S3 outputs are never touched.
 */
export function purgeable(job: JobRecord): boolean {
  return settledAt(job) !== null;
}

export interface RetentionReport {
  purged: number;
  kept: number;
}

/** Deletes jobs that ended more than `retentionMs` ago (oldest first, one batch). */
export async function purgeExpiredJobs(store: JobStore, retentionMs: number, now = Date.now()): Promise<RetentionReport> {
  const ids = await store.endedBefore(now - retentionMs, PURGE_BATCH);
  const report: RetentionReport = { purged: 0, kept: 0 };
  for (const id of ids) {
    const result = await store.remove(id, purgeable);
    if (result.outcome === 'refused') {
      // Its instances are still being given back: look again a retention period later, so a
      // backlog of these never hides the purgeable jobs behind it.
      await store.deferRetention(id, now);
      report.kept++;
    } else report.purged++;
  }
  return report;
}

export interface RetentionOptions {
  store: JobStore;
  connection: ConnectionOptions;
  prefix: string;
  logger: Logger;
  everyMs: number;
  retentionMs: number;
}

/** The retention sweep, on one schedule shared by every provisioner replica. */
export function startRetention(options: RetentionOptions) {
  return startSchedule({
    ...options,
    queue: 'retention',
    run: async () => {
      // Jobs made before tenants join the owner and retention indexes once (a no-op after that).
      const backfilled = await options.store.backfillTenancyIndexes();
      if (backfilled > 0) options.logger.info({ backfilled }, 'retention: indexed jobs made before tenants');
      const report = await purgeExpiredJobs(options.store, options.retentionMs);
      if (report.purged > 0 || report.kept > 0) options.logger.info(report, 'retention: purged finished jobs');
      return report;
    },
  });
}

import type { JobStore } from '@inno-train/job-store';
import { jobCost, type JobRecord } from '@inno-train/schemas';

/**
 * A tenant's monthly spend: each job's cost counts in the calendar month (UTC) the job started in.
 * Finished jobs are read from the month's ledger (teardown records their final cost, training
 * raises it while it runs); running jobs are priced live, so the figure is current to the second.
 */
export function monthOf(at: string | number): string {
  return new Date(at).toISOString().slice(0, 7);
}

export function spendMonthOf(job: Pick<JobRecord, 'startedAt' | 'createdAt'>): string {
  return monthOf(job.startedAt ?? job.createdAt);
}

/** Raises the job's entry in its owner's ledger to what its instances have cost so far. */
export async function recordJobSpend(store: JobStore, job: JobRecord, now = Date.now()): Promise<void> {
  const usd = jobCost(job, now).usd;
  if (usd > 0) await store.recordSpend(job.createdBy, spendMonthOf(job), job.id, usd);
}

/** The tenant's spend in the month of `now`, in USD. */
export async function monthSpendUsd(store: JobStore, createdBy: string | null, now = Date.now()): Promise<number> {
  const month = monthOf(now);
  const [ledger, running] = await Promise.all([store.spendLedger(createdBy, month), store.running(createdBy)]);
  for (const job of running) {
    if (spendMonthOf(job) === month) ledger.set(job.id, Math.max(ledger.get(job.id) ?? 0, jobCost(job, now).usd));
  }
  let total = 0;
  for (const usd of ledger.values()) total += usd;
  return total;
}

/** True when the job's owner has a budget and this month's spend has reached it. */
export async function budgetExhausted(
  store: JobStore,
  job: JobRecord,
  now = Date.now(),
): Promise<{ spendUsd: number; budgetUsd: number } | null> {
  const budgetUsd = job.limits.monthlyBudgetUsd;
  if (budgetUsd === null) return null;
  const spendUsd = await monthSpendUsd(store, job.createdBy, now);
  return spendUsd >= budgetUsd ? { spendUsd, budgetUsd } : null;
}

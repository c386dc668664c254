import type { JobStore } from '@inno-train/job-store';
import { monthOf, monthSpendUsd } from '@inno-train/workflow';
import type { Tenant } from './keys';

/** What GET /v1/usage shows of one tenant: this month's spend, its jobs by state, its limits. */
export async function usageOf(store: JobStore, tenant: Tenant, now = Date.now()) {
  const [spend, counts] = await Promise.all([monthSpendUsd(store, tenant.name, now), store.countByStatus(tenant.name)]);
  const running = counts.provisioning + counts.staging_in + counts.training + counts.staging_out;
  return {
    name: tenant.name,
    role: tenant.role,
    month: monthOf(now),
    spendUsd: Math.round(spend * 1e6) / 1e6,
    jobs: { queued: counts.queued, running },
    limits: {
      maxConcurrentJobs: tenant.maxConcurrentJobs,
      monthlyBudgetUsd: tenant.monthlyBudgetUsd,
      budgetRemainingUsd: tenant.monthlyBudgetUsd === null ? null : Math.max(0, Math.round((tenant.monthlyBudgetUsd - spend) * 1e6) / 1e6),
    },
    allowedPrefixes: tenant.allowedPrefixes,
  };
}

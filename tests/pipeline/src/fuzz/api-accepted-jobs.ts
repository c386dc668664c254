/**
 * The jobs a fuzz run got accepted, after the run: each is cancelled (or has ended), must end with
 * its instances terminated, and must not have failed or been retried because of what it holds.
 */
import { waitFor } from '@inno-train/test-kit';
import type { Stack } from '../stack';
import { isOpen, nonNetworkTroubles, type Finding, type JobEvent } from './api-oracles';
import type { AcceptedJobs } from './api-request';

export interface Cleanup {
  /** The answer to each accepted job's cancel. */
  cancelStatus: Map<string, number>;
  /** Each accepted job's status (and error) just before its cancel. */
  preCancel: Map<string, string>;
  /** Every accepted job once all had ended, or why waiting for that failed. */
  ended: any[] | Error;
  /** When the clean-up was over. */
  endedAt: number;
}

export async function jobEvents(stack: Stack, id: string): Promise<JobEvent[]> {
  return ((await stack.api(`/v1/jobs/${id}/events`)).json?.data ?? []) as JobEvent[];
}

/**
 * Clean-up of everything accepted: cancel (or it has already ended), then every job ends with its
 * instances terminated, and no instance is left. Findings: a cancel answered other than 200 or 409,
 * a job that never ended.
 */
export async function cancelAndAwaitEnd(stack: Stack, accepted: AcceptedJobs, findings: Finding[]): Promise<Cleanup> {
  const cancelStatus = new Map<string, number>();
  const preCancel = new Map<string, string>();
  for (const id of accepted.ids) {
    const before = await stack.api(`/v1/jobs/${id}`);
    preCancel.set(
      id,
      `${before.json?.status}${before.json?.error ? ` (${before.json.error.code}: ${String(before.json.error.message).slice(0, 200)})` : ''}`,
    );
    const cancel = await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    cancelStatus.set(id, cancel.status);
    if (cancel.status !== 200 && cancel.status !== 409) {
      findings.push({
        problem: `cancel answered ${cancel.status}`,
        signature: `cancel answered ${cancel.status}`,
        request: `POST /v1/jobs/${id}/cancel`,
        status: cancel.status,
        response: cancel.text.slice(0, 300),
      });
    }
  }
  const ended = await waitFor(
    async () => {
      const jobs = await Promise.all(accepted.ids.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
      return jobs.filter(isOpen).length === 0 && stack.lambda.state.aliveInstances().length === 0 ? jobs : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, description: 'every accepted job to end with its instances terminated and no instance alive' },
  ).catch((error: Error) => error);
  if (ended instanceof Error) await findJobsThatNeverEnded(stack, accepted, cancelStatus, findings);
  return { cancelStatus, preCancel, ended, endedAt: Date.now() };
}

/** Says which jobs never ended, and how far they got. */
async function findJobsThatNeverEnded(
  stack: Stack,
  accepted: AcceptedJobs,
  cancelStatus: Map<string, number>,
  findings: Finding[],
): Promise<void> {
  for (const id of accepted.ids) {
    const job = (await stack.api(`/v1/jobs/${id}`)).json;
    if (!job || !isOpen(job)) continue;
    const events = await jobEvents(stack, id);
    findings.push({
      problem: 'an accepted job never ended',
      signature: `an accepted job never ended [${accepted.category.get(id)}]`,
      request: `${accepted.category.get(id)} job ${id} (${job.name}) cancel answered ${cancelStatus.get(id)}`,
      response:
        `status ${job.status}, instance ${job.instance ? `${job.instance.status} terminatedAt=${job.instance.terminatedAt}` : 'none'}; ` +
        `events: ${events
          .slice(-4)
          .map((e) => `${e.stage}/${e.type}: ${e.message.slice(0, 120)}`)
          .join(' | ')}`,
    });
  }
}

/**
 * An accepted job is one the service took on: before the cancel it must not have failed (valid
 * jobs sleep 60 s, so they were running or had just succeeded), nor had a staging or training
 * step retried or its host declared unreachable for anything but a network or SSH hiccup (what
 * the job itself holds must never make a step fail). Relaunches while provisioning are about
 * instances, not the job's content.
 */
export async function findTroubleInAcceptedJobs(
  stack: Stack,
  accepted: AcceptedJobs,
  preCancel: Map<string, string>,
  findings: Finding[],
): Promise<void> {
  for (const id of accepted.ids) {
    const before = preCancel.get(id) ?? '';
    const what = `${accepted.category.get(id)} job ${id}`;
    if (/^(failed|cancelled)/.test(before)) {
      findings.push({
        problem: `an accepted job had already ended: ${before}`,
        signature: `an accepted job had already ended [${accepted.category.get(id)}]`,
        request: what,
      });
    }
    const troubles = nonNetworkTroubles(await jobEvents(stack, id));
    if (troubles.length) {
      findings.push({
        problem: 'an accepted job hit a non-network error',
        signature: `an accepted job hit a non-network error [${accepted.category.get(id)}]`,
        request: what,
        response: troubles
          .slice(0, 3)
          .map((e) => `${e.stage}/${e.type}: ${e.message}`)
          .join(' | '),
      });
    }
  }
}

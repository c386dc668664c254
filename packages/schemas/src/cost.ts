import { instancesOf, type InstanceInfo, type JobRecord } from './record';

export interface JobCost {
  /** Billed seconds of every instance of the job: launch to confirmed termination (or now). */
  instanceSeconds: number;
  usd: number;
}

function billedSeconds(instance: InstanceInfo, now: number): number {
  const start = Date.parse(instance.launchedAt);
  // Billing stops when the terminate call is accepted; confirmation comes a poll or two later.
  const stopped = instance.terminatedAt ? (instance.terminateRequestedAt ?? instance.terminatedAt) : null;
  const end = stopped ? Date.parse(stopped) : now;
  return Math.max(0, (end - start) / 1000);
}

/** What the job's instances cost: price recorded at launch × billed time, summed. */
export function jobCost(job: Pick<JobRecord, 'instance' | 'retiredInstances'>, now: number = Date.now()): JobCost {
  const instances = instancesOf(job);
  let seconds = 0;
  let usd = 0;
  for (const instance of instances) {
    const billed = billedSeconds(instance, now);
    seconds += billed;
    usd += ((instance.priceCentsPerHour ?? 0) / 100) * (billed / 3600);
  }
  return { instanceSeconds: Math.round(seconds * 1000) / 1000, usd: Math.round(usd * 1e6) / 1e6 };
}

import { InnoTrainWaitTimeoutError } from './errors';
import { sleep } from './retry';
import { isSettled, type CallOptions, type Job, type WaitOptions } from './types';

const DEFAULT_INTERVAL_MS = 2000;

/**
 * Polls the job until it is settled: finished AND every instance confirmed terminated, so its cost
 * is final. A finished status alone is not enough; the instance is given back after it (seconds
 * locally, sometimes minutes on a real cloud), and until then it bills.
 */
export async function waitUntilSettled(
  retrieve: (id: string, options: CallOptions) => Promise<Job>,
  id: string,
  options: WaitOptions = {},
): Promise<Job> {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  for (;;) {
    const job = await retrieve(id, { signal: options.signal });
    await options.onUpdate?.(job);
    if (isSettled(job)) return job;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new InnoTrainWaitTimeoutError(job, `Job ${id} was not settled after ${options.timeoutMs} ms (status ${job.status})`);
    }
    await sleep(Math.min(intervalMs, left), options.signal);
  }
}

import { Redis } from 'ioredis';
import { createJobStore } from '@inno-train/job-store';
import type { JobRecord } from '@inno-train/schemas';
import { waitFor } from '@inno-train/test-kit';
import type { Stack } from './stack';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Submits a job and returns its id; a non-202 answer fails with the body. */
export async function submitJob(stack: Stack, body: Record<string, unknown>): Promise<string> {
  const response = await stack.api('/v1/jobs', { body });
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${response.text}`);
  return response.json.id as string;
}

export async function getJob(stack: Stack, id: string) {
  return (await stack.api(`/v1/jobs/${id}`)).json;
}

/** The stored record, internal bookkeeping included (host key pins, retire reasons): what the API does not show. */
export async function getRecord(stack: Pick<Stack, 'namespace'>, id: string): Promise<JobRecord> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    return await createJobStore({ redis, namespace: stack.namespace }).mustGet(id);
  } finally {
    await redis.quit();
  }
}

export async function getEvents(
  stack: Stack,
  id: string,
): Promise<{ at: string; type: string; stage: string; message: string; data?: Record<string, unknown> }[]> {
  return (await stack.api(`/v1/jobs/${id}/events`)).json.data;
}

/**
 * Waits until the job has settled: ended, and teardown found every instance it had (recorded or
 * launched unrecorded) confirmed terminated. Checks the instances too, so a wrong settledAt fails.
 */
export function waitForJobEnd(stack: Stack, id: string, timeoutMs = 120_000) {
  return waitFor(
    async () => {
      const job = await getJob(stack, id);
      if (!TERMINAL.includes(job.status) || !job.settledAt) return undefined;
      const instances = [...(job.retiredInstances ?? []), ...(job.instance ? [job.instance] : [])];
      if (!instances.every((i: { terminatedAt: string | null }) => i.terminatedAt))
        throw new Error(`job ${id} settled with an instance not terminated`);
      return job;
    },
    { timeoutMs, intervalMs: 200, description: `job ${id} to settle (ended, every instance confirmed terminated)` },
  );
}

export const TINY_SCRIPT = String.raw`
import json, os, time
for step in range(1, 4):
    print(json.dumps({"step": step, "total_steps": 3, "loss": 1.0 / step}), flush=True)
    time.sleep(0.1)
open(os.path.join(os.environ['OUTPUT_DIR'], 'done.txt'), 'w').write('ok')
`;

export function tinyJob(instance: Record<string, unknown> = { type: 'gpu_1x_a10' }, extra: Record<string, unknown> = {}) {
  return { instance, script: { inline: TINY_SCRIPT, filename: 'train.py' }, ...extra };
}

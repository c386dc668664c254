/**
 * Benchmark: jobs completed per minute with 1 vs 2 replicas of every worker app (short jobs,
 * simulator boot ~1 s). Prints figures; not a test.  Run: npm run bench:throughput -w tests/pipeline
 */
import { waitFor } from '@inno-train/test-kit';
import { startStack } from '../stack';
import { getEvents, submitJob, tinyJob } from '../jobs';

const JOBS = Number(process.env.BENCH_JOBS ?? 8);
/** Steps one worker process runs at once; small values show what replicas add. */
const CONCURRENCY = process.env.BENCH_CONCURRENCY ?? '50';

/** Mean time jobs spent in each status (from their status events), to show where the time goes. */
async function timeByStatus(stack: Awaited<ReturnType<typeof startStack>>, ids: string[]): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const id of ids) {
    const events = await getEvents(stack, id);
    const changes = events.filter((e) => e.type === 'status');
    for (let i = 0; i + 1 < changes.length; i++) {
      const status = String(changes[i]!.data?.status);
      totals[status] = (totals[status] ?? 0) + Date.parse(changes[i + 1]!.at) - Date.parse(changes[i]!.at);
    }
    // After the job ended: until its instance was confirmed terminated.
    const confirmed = events.find((e) => e.message.includes('terminated (confirmed)'));
    const ended = changes.at(-1);
    if (confirmed && ended) totals.teardown = (totals.teardown ?? 0) + Date.parse(confirmed.at) - Date.parse(ended.at);
  }
  return Object.fromEntries(Object.entries(totals).map(([status, ms]) => [status, Math.round(ms / ids.length)]));
}

async function run(replicas: number, ipBase: number): Promise<number> {
  const stack = await startStack({
    ipBase,
    bootDelayMs: 1000,
    replicas: { provisioner: replicas, transfer: replicas, monitor: replicas },
    extraEnv: { WORKER_CONCURRENCY: CONCURRENCY },
  });
  try {
    const started = Date.now();
    const ids = await Promise.all(Array.from({ length: JOBS }, () => submitJob(stack, tinyJob())));
    await waitFor(
      async () => {
        const jobs = await Promise.all(ids.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
        return jobs.every((job) => job.status === 'succeeded' && job.instance?.terminatedAt) || undefined;
      },
      { timeoutMs: 600_000, intervalMs: 250, description: 'every job to succeed' },
    );
    const minutes = (Date.now() - started) / 60_000;
    process.stdout.write(`  ${replicas} replica(s): mean ms per status ${JSON.stringify(await timeByStatus(stack, ids))}\n`);
    return JOBS / minutes;
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const one = await run(1, 60);
  const two = await run(2, 80);
  process.stdout.write(
    `throughput: ${JOBS} short jobs, WORKER_CONCURRENCY=${CONCURRENCY}; 1 replica of each worker app: ${one.toFixed(1)} jobs/min; 2 replicas: ${two.toFixed(1)} jobs/min (x${(two / one).toFixed(2)})\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

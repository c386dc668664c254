/**
 * Benchmark (issue 16's table): what one job costs in SSH logins and cloud calls, and how long a
 * stage waits on them. For each concurrency level in BENCH_LEVELS (default "1,10") it submits that
 * many short jobs at once on a fresh stack whose simulator enforces Lambda's documented rate limits
 * (1 request/s), waits for every one to succeed and be torn down, and prints per job:
 * - sshd logins: the "Accepted publickey" lines of the job's own OpenSSH host (sshd's count, not ours);
 * - Lambda requests: the simulator's request counters over the run, divided by the jobs;
 * - stage-in start: from the job's `staging_in` status event to its "Fetching ..." event, written
 *   once the transfer runs on the host (p50 / p95).
 * Bounded: BENCH_LEVELS' jobs each, a 10-minute deadline per level.
 * Run (after building): npm run bench:host-calls -w tests/pipeline
 */
import { waitFor } from '@inno-train/test-kit';
import { getEvents, submitJob, tinyJob } from '../jobs';
import { startStack, type Stack } from '../stack';

const LEVELS = (process.env.BENCH_LEVELS ?? '1,10').split(',').map(Number);

interface JobFigures {
  logins: number;
  stageInStartMs: number | null;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function figuresOf(stack: Stack, id: string): Promise<JobFigures> {
  const job = (await stack.api(`/v1/jobs/${id}`)).json;
  const host = stack.hosts.get(job.instance.id);
  const events = await getEvents(stack, id);
  const at = (predicate: (event: (typeof events)[number]) => boolean) => {
    const found = events.find(predicate);
    return found ? Date.parse(found.at) : null;
  };
  const stagingIn = at((e) => e.type === 'status' && e.data?.status === 'staging_in');
  const fetching = at((e) => e.type === 'transfer' && e.message.startsWith('Fetching '));
  return {
    logins: host?.acceptedSessions() ?? NaN,
    stageInStartMs: stagingIn !== null && fetching !== null ? fetching - stagingIn : null,
  };
}

async function runLevel(jobs: number, ipBase: number): Promise<void> {
  const stack = await startStack({
    ipBase,
    ipPrefix: '127.0.14.',
    bootDelayMs: 1000,
    rateLimits: { generalPerSecond: 1, launchMinIntervalMs: 0, launchPerMinute: 1000 },
    extraEnv: { WORKER_CONCURRENCY: '100' },
  });
  try {
    const before = stack.lambda.state.counters().requests;
    const started = Date.now();
    const ids = await Promise.all(Array.from({ length: jobs }, () => submitJob(stack, tinyJob())));
    await waitFor(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
        const failed = all.find((job) => ['failed', 'cancelled'].includes(job.status));
        if (failed) throw new Error(`job ${failed.id} ended ${failed.status}: ${JSON.stringify(failed.error)}`);
        return all.every((job) => job.status === 'succeeded' && job.settledAt) || undefined;
      },
      { timeoutMs: 600_000, intervalMs: 500, description: `${jobs} jobs to succeed and settle` },
    );
    const wallMs = Date.now() - started;
    const after = stack.lambda.state.counters().requests;
    const figures = await Promise.all(ids.map((id) => figuresOf(stack, id)));
    const requests: Record<string, number> = {};
    for (const [endpoint, count] of Object.entries(after)) {
      const delta = count - (before[endpoint] ?? 0);
      if (delta > 0) requests[endpoint] = Math.round((delta / jobs) * 10) / 10;
    }
    const totalRequests = Object.values(requests).reduce((a, b) => a + b, 0);
    const logins = figures.map((f) => f.logins);
    const starts = figures.flatMap((f) => (f.stageInStartMs === null ? [] : [f.stageInStartMs]));
    process.stdout.write(
      `host-calls ${jobs} concurrent job(s), ${seconds(wallMs)} wall:\n` +
        `  sshd logins per job: mean ${(logins.reduce((a, b) => a + b, 0) / jobs).toFixed(1)}, max ${Math.max(...logins)}\n` +
        `  Lambda requests per job: ${totalRequests.toFixed(1)} ${JSON.stringify(requests)}\n` +
        `  stage-in start (staging_in -> transfer running): p50 ${seconds(percentile(starts, 50))}, p95 ${seconds(percentile(starts, 95))}\n`,
    );
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  let ipBase = 10;
  for (const level of LEVELS) {
    await runLevel(level, ipBase);
    ipBase += level + 5;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/**
 * Benchmark (issue 16's table): what one job costs in SSH logins and cloud calls, and how long a
 * stage waits on them. For each concurrency level in BENCH_LEVELS (default "1,10") it submits that
 * many short jobs at once on a fresh stack whose simulator enforces Lambda's documented rate limits
 * (1 request/s), waits for every one to succeed and be torn down, and prints per job:
 * - sshd logins: the "Accepted publickey" lines of the job's own OpenSSH host (sshd's count, not ours);
 * - Lambda requests: the simulator's request counters over the run, divided by the jobs;
 * - stage-in start: from the job's `staging_in` status event to its "Fetching ..." event, written
 *   once the transfer runs on the host (p50 / p95);
 * - orchestration overhead: submit -> succeeded, less the instance's boot (launch -> ready), the two
 *   transfers (running -> done) and the command (started -> training ended), all from the job's events.
 * Bounded: BENCH_LEVELS' jobs each, a 10-minute deadline per level.
 * Run (after building): npm run bench:host-calls -w tests/pipeline (BENCH_LOGS=/tmp/calls keeps the apps' debug logs)
 */
import { writeFileSync } from 'node:fs';
import { waitFor } from '@inno-train/test-kit';
import { getEvents, submitJob, tinyJob } from '../jobs';
import { DEFAULT_TEST_TYPES, startStack, type Stack } from '../stack';

const LEVELS = (process.env.BENCH_LEVELS ?? '1,10').split(',').map(Number);
/** BENCH_LOGS=<path>: the apps log at debug level, written to <path>.<N>-jobs.ndjson after each level. */
const LOGS_TO = process.env.BENCH_LOGS;

interface JobFigures {
  logins: number;
  stageInStartMs: number | null;
  /** submit -> succeeded, less boot (launch -> ready), both transfers and the command's runtime. */
  overheadMs: number | null;
  /** Where the overhead goes: the spans between the events that bound the parts above. */
  pieces: Record<OverheadPiece, number | null>;
}

const OVERHEAD_PIECES = [
  'submit -> launched',
  'ready -> stage-in running',
  'training -> started',
  'staging_out -> upload running',
] as const;
type OverheadPiece = (typeof OVERHEAD_PIECES)[number];

/** The time between two events, or null when either is missing. */
function span(from: number | null, to: number | null): number | null {
  return from !== null && to !== null ? to - from : null;
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
  const status = (name: string) => at((e) => e.type === 'status' && e.data?.status === name);
  const stagingIn = status('staging_in');
  const fetching = at((e) => e.type === 'transfer' && e.message.startsWith('Fetching '));
  // The parts that are not orchestration: the cloud booting the instance, bytes moving, the command.
  const boot = span(
    at((e) => e.type === 'instance' && e.message.startsWith('Launched instance')),
    stagingIn,
  );
  const stageIn = span(fetching, status('training'));
  const command = span(
    at((e) => e.type === 'training' && e.message.startsWith('Started:')),
    status('staging_out'),
  );
  const stageOut = span(
    at((e) => e.type === 'transfer' && e.message.startsWith('Uploading ')),
    status('succeeded'),
  );
  const total = span(Date.parse(job.createdAt), status('succeeded'));
  const parts = [total, boot, stageIn, command, stageOut];
  const launched = at((e) => e.type === 'instance' && e.message.startsWith('Launched instance'));
  return {
    pieces: {
      'submit -> launched': span(Date.parse(job.createdAt), launched),
      'ready -> stage-in running': span(stagingIn, fetching),
      'training -> started': span(
        status('training'),
        at((e) => e.type === 'training' && e.message.startsWith('Started:')),
      ),
      'staging_out -> upload running': span(
        status('staging_out'),
        at((e) => e.type === 'transfer' && e.message.startsWith('Uploading ')),
      ),
    },
    logins: host?.acceptedSessions() ?? NaN,
    stageInStartMs: span(stagingIn, fetching),
    overheadMs: parts.every((part) => part !== null) ? total! - boot! - stageIn! - command! - stageOut! : null,
  };
}

/**
 * Waits until the stack's own start-up calls (SSH key registration, the first cloud watch and
 * reconciler listings) are done: at 1 request/s they would otherwise queue ahead of the first launch
 * and count as the job's overhead. Done when the simulator saw no request for 2 s (at most 60 s).
 */
async function settleStartup(stack: Stack): Promise<void> {
  const total = () => Object.values(stack.lambda.state.counters().requests).reduce((a, b) => a + b, 0);
  let last = total();
  let quietSince = Date.now();
  await waitFor(
    () => {
      const now = total();
      if (now !== last) [last, quietSince] = [now, Date.now()];
      return Date.now() - quietSince >= 2000 || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, description: 'the stack start-up calls to the cloud to end' },
  );
}

async function runLevel(jobs: number, ipBase: number): Promise<void> {
  const stack = await startStack({
    ipBase,
    ipPrefix: '127.0.14.',
    bootDelayMs: 1000,
    rateLimits: { generalPerSecond: 1, launchMinIntervalMs: 0, launchPerMinute: 1000 },
    // Capacity for every job of the level (the default catalog has 40 A10s: a 50-job level failed 10 with no_capacity).
    instanceTypes: DEFAULT_TEST_TYPES.map((type) => ({ ...type, capacity: { 'us-east-1': jobs, 'us-west-1': jobs } })),
    extraEnv: { WORKER_CONCURRENCY: '100', ...(LOGS_TO ? { LOG_LEVEL: 'debug' } : {}) },
  });
  try {
    await settleStartup(stack);
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
    const overheads = figures.flatMap((f) => (f.overheadMs === null ? [] : [f.overheadMs]));
    process.stdout.write(
      `host-calls ${jobs} concurrent job(s), ${seconds(wallMs)} wall:\n` +
        `  sshd logins per job: mean ${(logins.reduce((a, b) => a + b, 0) / jobs).toFixed(1)}, max ${Math.max(...logins)}\n` +
        `  Lambda requests per job: ${totalRequests.toFixed(1)} ${JSON.stringify(requests)}\n` +
        `  stage-in start (staging_in -> transfer running): p50 ${seconds(percentile(starts, 50))}, p95 ${seconds(percentile(starts, 95))}\n` +
        `  orchestration overhead (submit -> succeeded, less boot, transfers and the command as the events time them): ` +
        `p50 ${seconds(percentile(overheads, 50))}, p95 ${seconds(percentile(overheads, 95))}\n` +
        `    of which (p50): ${OVERHEAD_PIECES.map(
          (piece) =>
            `${piece} ${seconds(
              percentile(
                figures.flatMap((f) => f.pieces[piece] ?? []),
                50,
              ),
            )}`,
        ).join(', ')}\n`,
    );
  } finally {
    // Each app's debug log (every SSH call and login with its duration), to see where time goes.
    if (LOGS_TO) writeFileSync(`${LOGS_TO}.${jobs}-jobs.ndjson`, stack.appLogs());
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

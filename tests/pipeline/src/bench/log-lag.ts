/**
 * Benchmark (issue 16): how soon a log line printed on the host is visible in
 * `GET /v1/jobs/:id/logs`, and how soon the end of the command moves the job to `staging_out`, at
 * the production poll interval (TRAIN_POLL_MS 10 s), with the monitor's live tail off (polling
 * only, as before) and on. The job prints BENCH_LINES lines (default 40), one every 200 ms, each with
 * the host's epoch ms (the hosts share this machine's clock), and as its last act the time it exits.
 * The bench reads the log every 50 ms and notes when each line first appears; the exit is compared
 * with the `staging_out` status event. Bounded: each run gives up after 120 s.
 * Run (after building): npm run bench:log-lag -w tests/pipeline
 */
import { waitFor } from '@inno-train/test-kit';
import { getEvents, submitJob } from '../jobs';
import { startStack } from '../stack';

const LINES = Math.min(Number(process.env.BENCH_LINES ?? 40), 1000);
const LINE = /^tick (\d+) (\d+(?:\.\d+)?)$/;
const EXIT = /^exit (\d+(?:\.\d+)?)$/m;
const now = () => performance.timeOrigin + performance.now();

const SCRIPT = String.raw`
import time
for i in range(${LINES}):
    print(f'tick {i} {time.time() * 1000:.3f}', flush=True)
    time.sleep(0.2)
print(f'exit {time.time() * 1000:.3f}', flush=True)
`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function run(liveTail: boolean): Promise<void> {
  const stack = await startStack({
    ipBase: liveTail ? 60 : 30,
    ipPrefix: '127.0.14.',
    extraEnv: { TRAIN_POLL_MS: '10000', LOG_WATCH: String(liveTail) },
  });
  try {
    const id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: SCRIPT, filename: 'train.py' } });
    const seen = new Map<number, number>();
    let exitedAt: number | null = null;
    await waitFor(
      async () => {
        const text = (await stack.api(`/v1/jobs/${id}/logs`)).text;
        const at = now();
        for (const line of text.split('\n')) {
          const match = LINE.exec(line);
          if (match && !seen.has(Number(match[1]))) seen.set(Number(match[1]), at - Number(match[2]));
        }
        const exit = EXIT.exec(text);
        if (exit) exitedAt = Number(exit[1]);
        const job = (await stack.api(`/v1/jobs/${id}`)).json;
        if (['failed', 'cancelled'].includes(job.status)) throw new Error(`job ${id} ended ${job.status}`);
        return (seen.size === LINES && exitedAt !== null && job.status !== 'training' && job.status !== 'staging_in') || undefined;
      },
      { timeoutMs: 120_000, intervalMs: 50, description: 'every line read and the job past training' },
    );
    const events = await getEvents(stack, id);
    const stagingOut = events.find((event) => event.type === 'status' && event.data?.status === 'staging_out');
    const lags = [...seen.values()];
    process.stdout.write(
      `log-lag TRAIN_POLL_MS=10000, live tail ${liveTail ? 'on ' : 'off'}: ${LINES} lines printed -> visible in GET /logs: ` +
        `p50 ${seconds(percentile(lags, 50))}, p95 ${seconds(percentile(lags, 95))}, max ${seconds(Math.max(...lags))}; ` +
        `command exit -> staging_out: ${stagingOut && exitedAt !== null ? seconds(Date.parse(stagingOut.at) - exitedAt) : 'n/a'}\n`,
    );
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  await run(false);
  await run(true);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/**
 * Benchmark: time from a host's death to its instance's termination (Lambda accepting the
 * terminate, when billing stops), per SSH operation the host dies in. Every kill point of
 * host-chaos.ts runs BENCH_ROUNDS times (default 3), BENCH_CONCURRENCY jobs at once (default 6),
 * each job waited on for at most BENCH_END_TIMEOUT_MS (default 15 min). Prints one line per point:
 * worst and median over the runs, and how the jobs ended.
 * Run: npm run bench:host-chaos -w tests/pipeline
 */
import { EXTRA_POINTS, HOST_CHAOS_ENV, inBatches, KILL_POINTS, runKillPoint, type KillPoint } from '../host-chaos';
import { startStack } from '../stack';

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 6);
  const endTimeoutMs = Number(process.env.BENCH_END_TIMEOUT_MS ?? 15 * 60_000);
  const points: (KillPoint & { label?: string; retry?: boolean })[] = [...KILL_POINTS, ...EXTRA_POINTS];
  const runs = points.flatMap((point) => Array.from({ length: rounds }, () => point));
  const stack = await startStack({ ipBase: 10, ipPrefix: '127.0.2.', hostChaos: true, extraEnv: HOST_CHAOS_ENV });
  const started = Date.now();
  try {
    const results = await inBatches(runs, concurrency, async (point) =>
      runKillPoint(stack, point, endTimeoutMs).then(
        (run) => ({
          label: point.label ?? point.name,
          ms: run.msToTermination,
          end: run.job.status === 'failed' ? `failed:${run.job.error?.code}` : run.job.status,
        }),
        (error: unknown) => ({ label: point.label ?? point.name, ms: Number.NaN, end: `error: ${String(error).slice(0, 200)}` }),
      ),
    );
    process.stdout.write(
      `host chaos: host death -> instance termination (ms), ${rounds} runs per point, ${concurrency} jobs at once, ${Math.round((Date.now() - started) / 1000)} s in all\n`,
    );
    process.stdout.write(`${'point'.padEnd(46)} ${'worst'.padStart(8)} ${'median'.padStart(8)}  ends\n`);
    for (const point of points) {
      const label = point.label ?? point.name;
      const mine = results.filter((r) => r.label === label);
      const times = mine
        .map((r) => r.ms)
        .filter((ms) => Number.isFinite(ms))
        .sort((a, b) => a - b);
      const worst = times.length < mine.length ? 'n/a' : String(times.at(-1));
      const median = times.length ? String(times[Math.floor(times.length / 2)]) : 'n/a';
      const ends = [...new Set(mine.map((r) => r.end))].join(', ');
      process.stdout.write(`${label.padEnd(46)} ${worst.padStart(8)} ${median.padStart(8)}  ${ends}\n`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

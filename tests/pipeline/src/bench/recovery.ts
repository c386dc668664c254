/**
 * Benchmark: time from a worker's death to its job progressing again, in two cases:
 * - between steps: the monitor is SIGKILLed at a random moment of training (mostly while its job
 *   waits as a delayed re-check), a replacement is started at once;
 * - mid-step: the monitor kills itself inside a step (crash point `step:train:after-handler`), so
 *   its job is active and locked; a replacement is started at once and must wait for the lock to
 *   expire and a stalled check to run (STEP_LOCK_MS + STEP_STALLED_CHECK_MS, defaults 20 s + 10 s).
 * Each is repeated BENCH_ROUNDS times (default 3). Run: npm run bench:recovery -w tests/pipeline
 */
import { waitFor } from '@inno-train/test-kit';
import { startStack } from '../stack';
import { ENDLESS_SCRIPT } from '../fixtures';
import { submitJob } from '../jobs';

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const stack = await startStack({ ipBase: 100, replicas: { monitor: 1 } });
  const figures: number[] = [];
  const midStep: number[] = [];
  try {
    const id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: ENDLESS_SCRIPT, filename: 'train.py' } });
    const step = async () => Number((await stack.api(`/v1/jobs/${id}`)).json.progress?.step ?? 0);
    await waitFor(async () => (await step()) > 2 || undefined, { timeoutMs: 60_000, description: 'training to progress' });
    const monitorIndex = stack.apps.findIndex((app) => app.app === 'monitor');
    for (let round = 0; round < rounds; round++) {
      await waitFor(async () => (await stack.api(`/v1/jobs/${id}`)).json.status === 'training' || undefined, {
        timeoutMs: 10_000,
        description: 'training',
      });
      const killedAt = Date.now();
      await stack.killAndRestart(monitorIndex);
      const before = await step();
      await waitFor(async () => (await step()) > before || undefined, {
        timeoutMs: 120_000,
        intervalMs: 100,
        description: 'progress after the kill',
      });
      figures.push(Date.now() - killedAt);
    }
    for (let round = 0; round < rounds; round++) {
      const armed = await stack.killAndRestart(monitorIndex, { INNO_CRASH_POINTS: 'step:train:after-handler' });
      await armed.exited;
      const diedAt = Date.now();
      await stack.killAndRestart(monitorIndex);
      const before = await step();
      await waitFor(async () => (await step()) > before || undefined, {
        timeoutMs: 120_000,
        intervalMs: 100,
        description: 'progress after the mid-step death',
      });
      midStep.push(Date.now() - diedAt);
    }
    await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
  } finally {
    await stack.stop();
  }
  process.stdout.write(
    `recovery, killed between steps: worker death -> job progressing again (ms) over ${figures.length} kills: ${JSON.stringify(figures)}; median ${median(figures)}\n`,
  );
  process.stdout.write(
    `recovery, killed mid-step (lock held): worker death -> job progressing again (ms) over ${midStep.length} kills: ${JSON.stringify(midStep)}; median ${median(midStep)}\n`,
  );
}

function median(values: number[]): number | undefined {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * Benchmark: time from a worker's death to its job progressing again. A monitor process is
 * SIGKILLed while its job trains (every monitor, so no live one holds the job), a replacement is
 * started at once, and we measure until the job's progress moves again. Repeated a few times.
 * Run: npm run bench:recovery -w tests/pipeline
 */
import { waitFor } from '@inno-train/test-kit';
import { startStack } from '../stack';
import { ENDLESS_SCRIPT } from '../fixtures';
import { submitJob } from '../jobs';

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const stack = await startStack({ ipBase: 100, replicas: { monitor: 1 } });
  const figures: number[] = [];
  try {
    const id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: ENDLESS_SCRIPT, filename: 'train.py' } });
    const step = async () => Number((await stack.api(`/v1/jobs/${id}`)).json.progress?.step ?? 0);
    await waitFor(async () => (await step()) > 2 || undefined, { timeoutMs: 60_000, description: 'training to progress' });
    const monitorIndex = stack.apps.findIndex((app) => app.app === 'monitor');
    for (let round = 0; round < rounds; round++) {
      await waitFor(async () => (await stack.api(`/v1/jobs/${id}`)).json.status === 'training' || undefined, { timeoutMs: 10_000, description: 'training' });
      const killedAt = Date.now();
      await stack.killAndRestart(monitorIndex);
      const before = await step();
      await waitFor(async () => (await step()) > before || undefined, { timeoutMs: 120_000, intervalMs: 100, description: 'progress after the kill' });
      figures.push(Date.now() - killedAt);
    }
    await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
  } finally {
    await stack.stop();
  }
  const sorted = [...figures].sort((a, b) => a - b);
  process.stdout.write(`recovery: worker death -> job progressing again (ms) over ${figures.length} kills: ${JSON.stringify(figures)}; median ${sorted[Math.floor(sorted.length / 2)]}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * Benchmark: the Redis bytes one finished job holds until retention deletes it. Runs BENCH_JOBS
 * jobs (default 5) of each kind to success on the whole stack, then asks Redis (MEMORY USAGE,
 * every element sampled) for each job's record, events, log and log size, its share of the job indexes, and
 * the completed stage steps BullMQ keeps for a day. Kinds: the tiny job (3 metrics lines) and a
 * chatty one (2,000 log lines, about 120 KiB of log).
 * Run: npm run bench:job-bytes -w tests/pipeline
 */
import { Redis } from 'ioredis';
import { startStack, type Stack } from '../stack';
import { submitJob, tinyJob, waitForJobEnd } from '../jobs';

const CHATTY_SCRIPT = String.raw`
import json, os
for step in range(1, 2001):
    print(json.dumps({"step": step, "total_steps": 2000, "loss": 1.0 / step, "lr": 0.0002}), flush=True)
open(os.path.join(os.environ['OUTPUT_DIR'], 'done.txt'), 'w').write('ok')
`;

const STAGE_QUEUES = ['provision', 'stage-in', 'train', 'stage-out', 'teardown'];

async function memory(redis: Redis, key: string): Promise<number> {
  return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

/** Bytes of the job's own keys, and of the completed BullMQ steps that name it. */
async function bytesOfJob(redis: Redis, namespace: string, id: string) {
  let own = 0;
  for (const suffix of ['', ':events', ':log', ':log-size']) own += await memory(redis, `${namespace}:job:${id}${suffix}`);
  let steps = 0;
  for (const queue of STAGE_QUEUES) {
    const keys = await redis.keys(`{${namespace}}:${queue}:${id}.*`);
    for (const key of keys) steps += await memory(redis, key);
  }
  return { own, steps };
}

/** Each index's bytes divided by its members: one job's share. */
async function indexShare(redis: Redis, namespace: string): Promise<number> {
  const indexes = (await redis.keys(`${namespace}:jobs*`)).filter((key) => !key.includes(':job:'));
  let share = 0;
  for (const key of indexes) {
    const members = await redis.zcard(key);
    if (members > 0) share += (await memory(redis, key)) / members;
  }
  return share;
}

async function runKind(stack: Stack, redis: Redis, label: string, body: Record<string, unknown>, count: number) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(await submitJob(stack, body));
  for (const id of ids) {
    const job = await waitForJobEnd(stack, id, 180_000);
    if (job.status !== 'succeeded') throw new Error(`job ${id} ended ${job.status}: ${JSON.stringify(job.error)}`);
  }
  const figures = await Promise.all(ids.map((id) => bytesOfJob(redis, stack.namespace, id)));
  const mean = (values: number[]) => Math.round(values.reduce((a, b) => a + b, 0) / values.length);
  const index = Math.round(await indexShare(redis, stack.namespace));
  const own = mean(figures.map((f) => f.own));
  const steps = mean(figures.map((f) => f.steps));
  process.stdout.write(
    `job-bytes ${label}: ${count} jobs; per finished job: record+events+log ${own} B, index entries ~${index} B, ` +
      `retained total ${own + index} B (${(((own + index) * 1e6) / 2 ** 30).toFixed(2)} GiB per million jobs); ` +
      `completed BullMQ steps ${steps} B more for their first 24 h\n`,
  );
}

async function main(): Promise<void> {
  const count = Number(process.env.BENCH_JOBS ?? 5);
  const stack = await startStack({ ipBase: 10, ipPrefix: '127.0.5.' });
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    await runKind(stack, redis, 'tiny', tinyJob(), count);
    await runKind(
      stack,
      redis,
      'chatty',
      { instance: { type: 'gpu_1x_a10' }, script: { inline: CHATTY_SCRIPT, filename: 'train.py' } },
      count,
    );
  } finally {
    await redis.quit();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

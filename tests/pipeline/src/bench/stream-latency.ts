/**
 * Benchmark: latency from a line printed on the host to a client following the job's stream
 * (GET /v1/jobs/:id/stream), on the whole stack. The job prints BENCH_LINES lines (default 200,
 * at most 5000), one every BENCH_INTERVAL_MS (default 50), each with the time it was printed; the
 * host and the client share this machine's clock. Each line is timed twice:
 * - stored: when its bytes are in Redis, read by a subscriber of the job's wake-ups the moment the
 *   monitor's write lands (the earliest any reader can know; the monitor polls the host every
 *   TRAIN_POLL_MS, the stack's 250 unless BENCH_TRAIN_POLL_MS says otherwise);
 * - received: when the stream client has the message holding it.
 * received - stored is what the stream adds. Bounded: the run gives up after 120 s plus the time
 * the lines take. Run: npm run bench:stream-latency -w tests/pipeline
 */
import { Redis } from 'ioredis';
import { createJobStore, jobChangeChannel } from '@inno-train/job-store';
import { openSse, waitFor } from '@inno-train/test-kit';
import { submitJob } from '../jobs';
import { startStack, type Stack } from '../stack';

const LINE = /^tick (\d+) (\d+(?:\.\d+)?)$/;
const now = () => performance.timeOrigin + performance.now();

function script(lines: number, intervalMs: number): string {
  return String.raw`
import time
for i in range(${lines}):
    print(f'tick {i} {time.time() * 1000:.3f}', flush=True)
    time.sleep(${intervalMs / 1000})
`;
}

/** Lines of log text as they complete, with the time they were seen (a line cut between two reads completes in the second). */
function lineClock(seen: Map<number, { printed: number; at: number }>) {
  let partial = '';
  return (text: string, at: number) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const match = LINE.exec(line.trim());
      if (match && !seen.has(Number(match[1]))) seen.set(Number(match[1]), { printed: Number(match[2]), at });
    }
  };
}

/** Times each line the moment the store's write lands: the job's wake-up channel, then the log from the last offset. */
async function watchStored(redisUrl: string, namespace: string, id: string, seen: Map<number, { printed: number; at: number }>) {
  const subscriber = new Redis(redisUrl);
  const redis = new Redis(redisUrl);
  const store = createJobStore({ redis, namespace });
  const clock = lineClock(seen);
  let offset = 0;
  let reading: Promise<void> | null = null;
  let again = false;
  const read = async () => {
    do {
      again = false;
      const log = await store.logFrom(id, offset);
      clock(log.text.toString('utf8'), now());
      offset = log.start + log.text.length;
    } while (again);
    reading = null;
  };
  subscriber.on('message', (_channel: string, change: string) => {
    if (change !== 'log') return;
    if (reading) again = true;
    else reading = read();
  });
  await subscriber.subscribe(jobChangeChannel(namespace, id));
  return async () => {
    subscriber.disconnect();
    await reading;
    redis.disconnect();
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(name: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const ms = (v: number) => v.toFixed(1);
  return `  ${name}: p50 ${ms(percentile(sorted, 50))} ms, p95 ${ms(percentile(sorted, 95))} ms, max ${ms(sorted.at(-1) ?? NaN)} ms`;
}

async function follow(stack: Stack, lines: number, intervalMs: number, deadlineMs: number) {
  const id = await submitJob(stack, {
    instance: { type: 'gpu_1x_a10' },
    script: { inline: script(lines, intervalMs), filename: 'ticks.py' },
  });
  const stored = new Map<number, { printed: number; at: number }>();
  const received = new Map<number, { printed: number; at: number }>();
  const stopWatching = await watchStored(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', stack.namespace, id, stored);
  const stream = await openSse(`${stack.baseUrl}/v1/jobs/${id}/stream`, { authorization: `Bearer ${stack.secrets.apiKey}` });
  const clock = lineClock(received);
  let handled = 0;
  let copies = 0;
  try {
    await waitFor(
      () => {
        for (const message of stream.messages.slice(handled)) {
          if (message.event === 'log') {
            const text = (JSON.parse(message.data) as { text: string }).text;
            copies += text.split('\n').filter((line) => LINE.test(line.trim())).length;
            clock(text, message.at);
          }
        }
        handled = stream.messages.length;
        return stream.isEnded();
      },
      { timeoutMs: deadlineMs, intervalMs: 20, description: `the stream of job ${id} to end` },
    );
  } finally {
    stream.close();
    await stopWatching();
  }
  return { stored, received, copies, ended: stream.messages.at(-1)?.event === 'end' };
}

async function main(): Promise<void> {
  const lines = Math.min(Math.max(Math.floor(Number(process.env.BENCH_LINES ?? 200)), 1), 5000);
  const intervalMs = Math.min(Math.max(Number(process.env.BENCH_INTERVAL_MS ?? 50), 0), 1000);
  const trainPollMs = process.env.BENCH_TRAIN_POLL_MS;
  const stack = await startStack({ ipBase: 40, ipPrefix: '127.0.8.', extraEnv: trainPollMs ? { TRAIN_POLL_MS: trainPollMs } : {} });
  let result: Awaited<ReturnType<typeof follow>>;
  try {
    result = await follow(stack, lines, intervalMs, 120_000 + lines * intervalMs);
  } finally {
    await stack.stop();
  }
  const { stored, received, copies, ended } = result;
  const both = [...received.keys()].filter((i) => stored.has(i));
  const toClient = [...received.values()].map((line) => line.at - line.printed);
  const toStore = [...stored.values()].map((line) => line.at - line.printed);
  const added = both.map((i) => received.get(i)!.at - stored.get(i)!.at);
  process.stdout.write(
    [
      `stream latency over ${received.size} of ${lines} lines printed every ${intervalMs} ms ` +
        `(TRAIN_POLL_MS ${trainPollMs ?? 250}); ${copies} line copies received, stream ${ended ? 'reached end' : 'did NOT reach end'}`,
      summary('printed on the host -> received by the stream client', toClient),
      summary('printed on the host -> stored in Redis (monitor polling, SSH)', toStore),
      summary('stored in Redis -> received by the stream client (what the stream adds)', added),
      '',
    ].join('\n'),
  );
  if (received.size !== lines || copies !== lines || !ended) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

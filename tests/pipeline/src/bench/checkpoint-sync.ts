/**
 * Benchmark: checkpoint sync (README, "Checkpoints") on the whole stack. Two figures:
 * 1. Sync lag: a job (checkpoint.syncSeconds = BENCH_SYNC_SECONDS, default 5) writes
 *    BENCH_CHECKPOINTS entries (default 12) `step-<i>/` 2-3 s apart, each finished with a
 *    `.complete` marker, and prints the epoch ms at which it wrote each marker (the hosts share this
 *    machine's clock). The bench polls GET /v1/jobs/:id/checkpoints every 100 ms and notes when each
 *    entry is first listed; lag = first listed - marker written. Also the lag to the record's `at`
 *    (when the monitor recorded it, without the bench's polling), split at the job's `Syncing
 *    checkpoints` event that names the entry (marker -> planned: the wait for a round; planned ->
 *    recorded: the upload), and for BENCH_UNMARKED (default 4) marker-less entries `plain-<i>/`
 *    (complete once unchanged over a round), timed from their last write.
 * 2. Bytes through our processes: a second job writes one 100 MiB entry (BENCH_BIG_MIB) with a
 *    marker; the socket meter of every app process (stack.bytesReceivedByApps) is read 3 s before the
 *    entry is written and 1.1 s after it is listed (the meter files are rewritten every 500 ms). The
 *    same job idles 8 s first, which gives the background rate (polls, Redis, SSH) for comparison.
 *    The object's size in S3 is checked with the SDK.
 * The jobs sleep after their last checkpoint and are cancelled once everything is listed.
 * Bounded: each phase has a deadline. Run (after building):
 *   npm run bench:checkpoint-sync -w tests/pipeline
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { parseS3Uri } from '@inno-train/storage';
import { getEvents, submitJob, waitForJobEnd } from '../jobs';
import { testS3Client } from '../s3-helpers';
import { startStack, type Stack } from '../stack';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MIB = 1024 * 1024;
const BASELINE_SECONDS = 8;
/** Lines the jobs print: `marker step-3 1764525600123.456`, `written plain-2 ...`. */
const TIMED_LINE = /^(marker|written) (\S+) (\d+(?:\.\d+)?)$/gm;

function lagScript(checkpoints: number, unmarked: number): string {
  return String.raw`
import os, random, time
ck = os.environ['CHECKPOINT_DIR']
ms = lambda: '%.3f' % (time.time() * 1000)
def entry(name, marker):
    d = os.path.join(ck, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'weights.bin'), 'wb') as f:
        f.write(os.urandom(64 * 1024))
    with open(os.path.join(d, 'meta.json'), 'w') as f:
        f.write('{"name": "%s"}' % name)
    if marker:
        open(os.path.join(d, '.complete'), 'w').close()
    print('%s %s %s' % ('marker' if marker else 'written', name, ms()), flush=True)
print('started %s' % ms(), flush=True)
for i in range(1, ${checkpoints} + 1):
    time.sleep(random.Random(i).uniform(2.0, 3.0))
    entry('step-%d' % i, True)
    if i <= ${unmarked}:
        time.sleep(0.5)
        entry('plain-%d' % i, False)
print('all written', flush=True)
time.sleep(900)
`;
}

function bigScript(mib: number): string {
  return String.raw`
import os, time
ck = os.environ['CHECKPOINT_DIR']
ms = lambda: '%.3f' % (time.time() * 1000)
print('started %s' % ms(), flush=True)
time.sleep(${BASELINE_SECONDS})
print('ready-big %s' % ms(), flush=True)
time.sleep(3)
d = os.path.join(ck, 'big-1')
os.makedirs(d)
with open(os.path.join(d, 'weights.bin'), 'wb') as f:
    for _ in range(${mib}):
        f.write(os.urandom(1 << 20))
open(os.path.join(d, '.complete'), 'w').close()
print('marker big-1 %s' % ms(), flush=True)
time.sleep(900)
`;
}

type Listed = { name: string; step?: number; at: string; uri: string; bytes: number; files: number };
type Seen = { listedAt: number; recordedAt: number; uri: string; bytes: number };

/** Calls `step` every intervalMs until it returns true; errors propagate, the deadline throws. */
async function pollUntil(step: () => Promise<boolean>, timeoutMs: number, intervalMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await step()) return;
    if (Date.now() >= deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function listCheckpoints(stack: Stack, id: string): Promise<Listed[]> {
  const response = await stack.api(`/v1/jobs/${id}/checkpoints`);
  if (response.status !== 200) throw new Error(`checkpoints of ${id} answered ${response.status}: ${response.text}`);
  return (response.json as { data: Listed[] }).data;
}

async function jobLog(stack: Stack, id: string): Promise<string> {
  const response = await stack.api(`/v1/jobs/${id}/logs`);
  return response.status === 200 ? response.text : '';
}

/** Throws when the job has ended: nothing more will be listed. */
async function assertRunning(stack: Stack, id: string): Promise<void> {
  const job = (await stack.api(`/v1/jobs/${id}`)).json;
  if (['succeeded', 'failed', 'cancelled'].includes(job?.status)) {
    throw new Error(`job ${id} ended ${job.status} before the bench was done: ${JSON.stringify(job.error)}`);
  }
}

/** Records the first time each listed entry is seen (and its `at`), on every poll. */
function recorder(stack: Stack, id: string, seen: Map<string, Seen>) {
  let polls = 0;
  return async () => {
    if (++polls % 20 === 0) await assertRunning(stack, id);
    const listed = await listCheckpoints(stack, id);
    const at = now();
    for (const entry of listed) {
      if (!seen.has(entry.name))
        seen.set(entry.name, { listedAt: at, recordedAt: Date.parse(entry.at), uri: entry.uri, bytes: entry.bytes });
    }
  };
}

function timedLines(log: string): Map<string, number> {
  return new Map([...log.matchAll(TIMED_LINE)].map((match) => [match[2]!, Number(match[3])]));
}

async function cancelAndSettle(stack: Stack, id: string): Promise<void> {
  await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
  await waitForJobEnd(stack, id, 60_000);
}

/**
 * When each entry's upload was planned: the first `Syncing checkpoints` event naming it (the round
 * that found it complete). Marker -> planned is the wait for a round; planned -> recorded the upload.
 */
async function plannedTimes(stack: Stack, id: string): Promise<Map<string, number>> {
  const planned = new Map<string, number>();
  for (const event of await getEvents(stack, id)) {
    if (event.type !== 'transfer' || !event.message.startsWith('Syncing checkpoints ')) continue;
    for (const match of event.message.matchAll(/"([^"]+)" \((?:marker|stable)\)/g)) {
      if (!planned.has(match[1]!)) planned.set(match[1]!, Date.parse(event.at));
    }
  }
  return planned;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return `p50 ${s(percentile(sorted, 50))}, p95 ${s(percentile(sorted, 95))}, max ${s(sorted.at(-1) ?? NaN)}`;
}

interface LagConfig {
  syncSeconds: number;
  checkpoints: number;
  unmarked: number;
}

/** Phase 1: runs the lag job until every entry is listed and every write time is in its log. */
async function measureLag(stack: Stack, config: LagConfig) {
  const { syncSeconds, checkpoints, unmarked } = config;
  const id = await submitJob(stack, {
    instance: { type: 'gpu_1x_a10' },
    script: { inline: lagScript(checkpoints, unmarked), filename: 'train.py' },
    checkpoint: { syncSeconds },
  });
  const names = [
    ...Array.from({ length: checkpoints }, (_, i) => `step-${i + 1}`),
    ...Array.from({ length: Math.min(unmarked, checkpoints) }, (_, i) => `plain-${i + 1}`),
  ];
  const seen = new Map<string, Seen>();
  const record = recorder(stack, id, seen);
  const timeoutMs = 120_000 + checkpoints * 3_500 + syncSeconds * 4_000;
  await pollUntil(
    async () => {
      await record();
      return names.every((name) => seen.has(name));
    },
    timeoutMs,
    100,
    `${names.length} checkpoints of job ${id} to be listed`,
  );
  let written = new Map<string, number>();
  await pollUntil(
    async () => {
      written = timedLines(await jobLog(stack, id));
      return names.every((name) => written.has(name));
    },
    30_000,
    250,
    `every write time in the log of job ${id}`,
  );
  const planned = await plannedTimes(stack, id);
  await cancelAndSettle(stack, id);
  // Each entry's interval from `from` to `to`, for the entries whose name starts with `prefix`.
  const lags = (prefix: string, from: (name: string) => number, to: (name: string) => number) =>
    names.filter((name) => name.startsWith(prefix)).map((name) => to(name) - from(name));
  const wrote = (name: string) => written.get(name)!;
  const plan = (name: string) => planned.get(name) ?? NaN;
  return {
    listed: lags('step-', wrote, (name) => seen.get(name)!.listedAt),
    recorded: lags('step-', wrote, (name) => seen.get(name)!.recordedAt),
    plain: lags('plain-', wrote, (name) => seen.get(name)!.listedAt),
    waitingForRound: lags('step-', wrote, plan),
    uploading: lags('step-', plan, (name) => seen.get(name)!.recordedAt),
  };
}

function printLag(config: LagConfig, lag: Awaited<ReturnType<typeof measureLag>>): void {
  const head = `checkpoint-sync lag (syncSeconds=${config.syncSeconds}`;
  process.stdout.write(
    [
      `${head}, ${lag.listed.length} entries): ${summary(lag.listed)}`,
      `${head}, ${lag.recorded.length} entries, marker -> the record's \`at\`, without the bench's 100 ms polling): ${summary(lag.recorded)}`,
      `  of which marker -> planned (the wait for a sync round): ${summary(lag.waitingForRound)}`,
      `  and planned -> recorded (presign, upload on the host, next poll, S3 listed): ${summary(lag.uploading)}`,
      ...(lag.plain.length > 0 ? [`${head}, ${lag.plain.length} marker-less entries, last write -> listed): ${summary(lag.plain)}`] : []),
      '',
    ].join('\n'),
  );
}

interface Meter {
  bytes: number;
  at: number;
}

/** Phase 2 polling: meter readings at the job's `started` and `ready-big` lines, and when big-1 is listed. */
async function watchBigSync(stack: Stack, id: string, timeoutMs: number) {
  const seen = new Map<string, Seen>();
  const record = recorder(stack, id, seen);
  const reading = (): Meter => ({ bytes: stack.bytesReceivedByApps(), at: now() });
  let idleFrom: Meter | undefined;
  let windowFrom: Meter | undefined;
  await pollUntil(
    async () => {
      // The same two requests every poll, in the idle window and in the sync window alike.
      const log = await jobLog(stack, id);
      await record();
      if (!idleFrom && /^started /m.test(log)) idleFrom = reading();
      if (!windowFrom && /^ready-big /m.test(log)) windowFrom = reading();
      return seen.has('big-1');
    },
    timeoutMs,
    100,
    `the checkpoint big-1 of job ${id} to be listed`,
  );
  const listedAt = now();
  await sleep(1_100);
  const windowTo = reading();
  if (!idleFrom || !windowFrom) throw new Error(`big-1 was listed before the job's log showed "started" and "ready-big"`);
  return { idleFrom, windowFrom, windowTo, listedAt, entry: seen.get('big-1')! };
}

/** Phase 2: the bytes our processes receive while a big checkpoint is synced. */
async function measureBytes(stack: Stack, syncSeconds: number, mib: number) {
  const id = await submitJob(stack, {
    instance: { type: 'gpu_1x_a10' },
    script: { inline: bigScript(mib), filename: 'train.py' },
    checkpoint: { syncSeconds },
  });
  const watched = await watchBigSync(stack, id, 180_000 + mib * 1_000);
  const marker = timedLines(await jobLog(stack, id)).get('big-1');
  await cancelAndSettle(stack, id);
  const { bucket, key } = parseS3Uri(watched.entry.uri);
  const s3 = testS3Client(stack.s3);
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${key}weights.bin` }));
    return { ...watched, marker, s3Bytes: head.ContentLength ?? -1, s3Key: `${key}weights.bin` };
  } finally {
    s3.destroy();
  }
}

function printBytes(mib: number, result: Awaited<ReturnType<typeof measureBytes>>): void {
  const { idleFrom, windowFrom, windowTo, listedAt, entry, marker } = result;
  const size = mib * MIB;
  const delta = windowTo.bytes - windowFrom.bytes;
  const windowSeconds = (windowTo.at - windowFrom.at) / 1000;
  const idleRate = (windowFrom.bytes - idleFrom.bytes) / ((windowFrom.at - idleFrom.at) / 1000);
  const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;
  const percent = (bytes: number) => `${((100 * bytes) / size).toFixed(2)}%`;
  const ok = result.s3Bytes === size && entry.bytes === size;
  process.stdout.write(
    [
      `checkpoint-sync bytes through our processes during a ${mib} MiB checkpoint sync: ${kib(delta)} (${percent(delta)} of the checkpoint)`,
      `  ${delta} bytes received by the apps over ${windowSeconds.toFixed(1)} s (3 s before the write to 1.1 s after listed); ` +
        `the same job idle: ${kib(idleRate)}/s, i.e. ~${kib(idleRate * windowSeconds)} of background over such a window`,
      `  big-1 listed ${marker === undefined ? '?' : ((listedAt - marker) / 1000).toFixed(1)} s after its marker; ` +
        `listed ${entry.bytes} bytes; S3 ${result.s3Key}: ${result.s3Bytes} bytes (${ok ? 'OK' : `MISMATCH, expected ${size}`})`,
      '',
    ].join('\n'),
  );
  if (!ok) process.exitCode = 1;
}

function numberFromEnv(name: string, fallback: number, min: number, max: number): number {
  const value = Math.floor(Number(process.env[name] ?? fallback));
  return Number.isFinite(value) ? Math.min(Math.max(value, min), max) : fallback;
}

async function main(): Promise<void> {
  const config: LagConfig = {
    syncSeconds: numberFromEnv('BENCH_SYNC_SECONDS', 5, 5, 300),
    checkpoints: numberFromEnv('BENCH_CHECKPOINTS', 12, 1, 200),
    unmarked: numberFromEnv('BENCH_UNMARKED', 4, 0, 200),
  };
  const mib = numberFromEnv('BENCH_BIG_MIB', 100, 1, 4096);
  const started = now();
  const stack = await startStack({ ipBase: 10, ipPrefix: '127.0.13.' });
  try {
    printLag(config, await measureLag(stack, config));
    printBytes(mib, await measureBytes(stack, config.syncSeconds, mib));
  } finally {
    await stack.stop();
  }
  process.stdout.write(`checkpoint-sync bench ran ${((now() - started) / 1000).toFixed(0)} s\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

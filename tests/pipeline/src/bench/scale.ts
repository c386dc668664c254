/**
 * Benchmark (issue 16): BENCH_JOBS concurrent training jobs (default 200, at most 2000) on one
 * stack whose instances are light hosts (test-kit's light-host.ts, one ssh2 server in a child
 * process of the bench, addresses from 127.0.15.10 on, continuing into 127.0.16.x, ...). Each job's
 * script prints one metrics line per second for BENCH_SECONDS (default 60, at most 600), each
 * carrying the host's epoch ms when printed. Prints:
 * - jobs succeeded, and the wall time from the first submit until every job ended;
 * - the monitor process's CPU time over that span (utime + stime from /proc/<pid>/stat) as a fraction
 *   of one core, and its RSS growth per job (peak RSS during the run minus RSS before the submits);
 * - log lag p50/p95: for BENCH_SAMPLED jobs (default 30), GET /v1/jobs/:id/logs?offset= every ~200 ms,
 *   the time each line first appears minus the time the host printed it;
 * - the machine's CPU over the run (from /proc/stat, of all its cores) and the CPU of the light host
 *   process and its commands, so a reader sees how much of the two cores the simulated hosts took.
 * The monitor's TRAIN_POLL_MS is BENCH_TRAIN_POLL_MS, by default production's 10 s (the stack's 250 ms
 * poll of a thousand hosts would be 4,000 SSH commands a second). The hosts' commands (bash, the host
 * scripts, the training scripts) run on the same two cores as the monitor: a busy machine shows as lag.
 * Bounded: 300 s + BENCH_SECONDS + 0.6 s per job, then the stack is stopped.
 * Run (after building): BENCH_JOBS=1000 npm run bench:scale -w tests/pipeline
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { DEFAULT_TEST_TYPES, startStack, type Stack } from '../stack';
import { submitJob } from '../jobs';

const bounded = (name: string, fallback: number, min: number, max: number) =>
  Math.min(Math.max(Math.floor(Number(process.env[name] ?? fallback)) || fallback, min), max);
const JOBS = bounded('BENCH_JOBS', 200, 1, 2000);
const SECONDS = bounded('BENCH_SECONDS', 60, 1, 600);
const SAMPLED = bounded('BENCH_SAMPLED', 30, 1, 100);
const TRAIN_POLL_MS = String(bounded('BENCH_TRAIN_POLL_MS', 10_000, 100, 60_000));
const DEADLINE_MS = 300_000 + SECONDS * 1000 + JOBS * 600;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function script(seconds: number): string {
  return String.raw`
import json, time
for step in range(1, ${seconds} + 1):
    print(json.dumps({"step": step, "total_steps": ${seconds}, "loss": 1.0 / step, "printed_ms": time.time() * 1000}), flush=True)
    time.sleep(1)
`;
}

/**
 * utime + stime in seconds, and RSS in bytes, of one process; `withReaped` adds cutime + cstime,
 * the CPU of the children it waited for (and of theirs, that they waited for).
 */
function usage(pid: number, withReaped = false): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: field 3 is [0]; utime (14) is [11], stime (15) [12], cutime (16) [13],
  // cstime (17) [14], rss (24, pages) [21].
  const ticks = Number(fields[11]) + Number(fields[12]) + (withReaped ? Number(fields[13]) + Number(fields[14]) : 0);
  return { cpuSeconds: ticks / CLK_TCK, rssBytes: Number(fields[21]) * 4096 };
}

/** Busy CPU seconds of the whole machine (every core: all but idle and iowait), from /proc/stat. */
function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  return (cpu.reduce((sum, value) => sum + value, 0) - cpu[3]! - cpu[4]!) / CLK_TCK;
}

/** The light host server's process (test-kit's light-host-child.js, a child of this one). */
function lightHostPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('light-host-child')) return Number(entry);
    } catch {
      // Ended meanwhile.
    }
  }
  return undefined;
}

/** Runs `work` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Follows a job's log from its offset; records when each printed line (by its step) is first seen. */
function logFollower(stack: Stack, id: string, lags: number[]) {
  let offset = 0;
  let partial = '';
  const seen = new Set<string>();
  return async () => {
    const response = await stack.api(`/v1/jobs/${id}/logs?offset=${offset}`);
    const seenAt = Date.now();
    if (response.status !== 200) return;
    offset += Buffer.byteLength(response.text);
    const lines = (partial + response.text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const match = /"step": (\d+).*"printed_ms": ([\d.]+)/.exec(line);
      if (!match || seen.has(match[1]!)) continue;
      seen.add(match[1]!);
      lags.push(seenAt - Number(match[2]));
    }
  };
}

/** Samples the followed jobs every ~200 ms until `stop()` says so. */
async function sampleLogs(followers: Array<() => Promise<void>>, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const round = Date.now();
    await eachLimited(followers, 16, (follow) => follow().catch(() => undefined));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 200 - (Date.now() - round))));
  }
}

/** Every job in one of `statuses` (GET /v1/jobs, pages of 200); null when a page failed. */
async function listJobs(stack: Stack, statuses: string[], maxPages: number): Promise<Array<{ id: string; status: string }> | null> {
  const jobs: Array<{ id: string; status: string }> = [];
  let after = '';
  for (let page = 0; page < maxPages; page++) {
    // A failed page (e.g. a keep-alive socket the API closed as it was reused) is asked again next round.
    const body = (await stack.api(`/v1/jobs?status=${statuses.join(',')}&limit=200${after}`).catch(() => null))?.json;
    if (!Array.isArray(body?.data)) return null;
    jobs.push(...(body.data as Array<{ id: string; status: string }>));
    if (!body.hasMore || typeof body.nextAfter !== 'string') return jobs;
    after = `&after=${body.nextAfter}`;
  }
  return jobs;
}

/**
 * Waits until every job ended, listing the ended jobs and the jobs in training every 2 s (pages of
 * 200: a GET per unfinished job would be 500 requests a second at 1,000 jobs, load of the bench's
 * own on the API and Redis). Returns the final statuses and the most jobs seen in training at once.
 */
async function waitForAll(
  stack: Stack,
  ids: string[],
  deadline: number,
  onRound: () => void,
): Promise<{ statuses: Map<string, string>; peakTraining: number }> {
  const ours = new Set(ids);
  const statuses = new Map<string, string>();
  const maxPages = Math.ceil(ids.length / 200) + 5;
  let peakTraining = 0;
  while (statuses.size < ids.length && Date.now() < deadline) {
    const round = Date.now();
    for (const job of (await listJobs(stack, [...TERMINAL], maxPages)) ?? []) if (ours.has(job.id)) statuses.set(job.id, job.status);
    const training = await listJobs(stack, ['training'], maxPages);
    if (training) peakTraining = Math.max(peakTraining, training.filter((job) => ours.has(job.id)).length);
    onRound();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 2000 - (Date.now() - round))));
  }
  return { statuses, peakTraining };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function run(stack: Stack): Promise<{ figures: string[]; notSucceeded: string[] }> {
  const monitor = stack.apps.find((app) => app.app === 'monitor')!.child.pid!;
  const before = usage(monitor);
  // An app that died meanwhile shows NaN.
  const appSeconds = () => stack.apps.map((app) => (app.child.exitCode === null ? usage(app.child.pid!).cpuSeconds : NaN));
  const appsBefore = appSeconds();
  const benchBefore = process.cpuUsage();
  const hostsPid = lightHostPid();
  const hostsBefore = hostsPid === undefined ? undefined : usage(hostsPid, true);
  const busyBefore = machineBusySeconds();
  let peakRss = before.rssBytes;
  const started = Date.now();
  const deadline = started + DEADLINE_MS;
  const ids: string[] = [];
  const body = { instance: { type: 'gpu_1x_a10' }, script: { inline: script(SECONDS), filename: 'train.py' } };
  await eachLimited(Array.from({ length: JOBS }), 16, async () => void ids.push(await submitJob(stack, body)));
  const lags: number[] = [];
  let done = false;
  const sampling = sampleLogs(
    ids.slice(0, SAMPLED).map((id) => logFollower(stack, id, lags)),
    () => done || Date.now() > deadline,
  );
  const { statuses, peakTraining } = await waitForAll(stack, ids, deadline, () => {
    peakRss = Math.max(peakRss, usage(monitor).rssBytes);
  }).finally(() => (done = true));
  await sampling;
  const wallSeconds = (Date.now() - started) / 1000;
  const after = usage(monitor);
  const busy = machineBusySeconds() - busyBefore;
  const hostsCpu = hostsPid === undefined || hostsBefore === undefined ? NaN : usage(hostsPid, true).cpuSeconds - hostsBefore.cpuSeconds;
  const cores = os.availableParallelism();
  const benchCpu = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(benchBefore));
  const appsAfter = appSeconds();
  const appCpu = stack.apps.map((app, i) => `${app.name} ${((appsAfter[i]! - appsBefore[i]!) / wallSeconds).toFixed(2)}`).join(', ');
  const succeeded = [...statuses.values()].filter((status) => status === 'succeeded').length;
  const cpu = after.cpuSeconds - before.cpuSeconds;
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const notSucceeded = ids.filter((id) => statuses.get(id) !== 'succeeded');
  const figures = [
    `scale: ${JOBS} concurrent jobs on light hosts, ${SECONDS} lines each (one a second), TRAIN_POLL_MS ${TRAIN_POLL_MS}`,
    `  jobs succeeded: ${succeeded} of ${JOBS} (ended otherwise: ${statuses.size - succeeded}, not ended: ${JOBS - statuses.size}); ` +
      `at most ${peakTraining} in training at once (listed every 2 s)`,
    `  wall time: ${wallSeconds.toFixed(1)} s from the first submit until every job ended${statuses.size < JOBS ? ' (no: the deadline)' : ''}`,
    `  monitor CPU: ${cpu.toFixed(1)} s over ${wallSeconds.toFixed(1)} s = ${(cpu / wallSeconds).toFixed(3)} of one core`,
    `  monitor RSS: ${mib(before.rssBytes)} MiB before, ${mib(peakRss)} MiB peak, ${((peakRss - before.rssBytes) / JOBS / 1024).toFixed(1)} KiB per job`,
    `  log lag over ${lags.length} lines of ${Math.min(SAMPLED, JOBS)} jobs: p50 ${percentile(lags, 50).toFixed(0)} ms, ` +
      `p95 ${percentile(lags, 95).toFixed(0)} ms, max ${lags.length ? Math.max(...lags).toFixed(0) : 'n/a'} ms`,
    `  machine CPU: ${busy.toFixed(1)} s = ${(busy / wallSeconds).toFixed(2)} of its ${cores} cores; in cores: the light hosts ` +
      `${(hostsCpu / wallSeconds).toFixed(2)} (their server and the commands it waited for; not the detached training runners), ` +
      `${appCpu}, this bench ${(benchCpu / wallSeconds).toFixed(2)}`,
    `  app processes still running at the end: ${stack.apps.filter((app) => app.child.exitCode === null && app.child.signalCode === null).length} of ${stack.apps.length}`,
    '',
  ];
  return { figures, notSucceeded };
}

/** Where the jobs that did not succeed stand: a count per status, and the last events of the first few. */
async function unfinished(stack: Stack, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const counts: Record<string, number> = {};
  const lines: string[] = [];
  for (const id of ids.slice(0, 200)) {
    const job = (await stack.api(`/v1/jobs/${id}`).catch(() => null))?.json;
    counts[job?.status] = (counts[job?.status] ?? 0) + 1;
    if (lines.length >= 3) continue;
    const events = (await stack.api(`/v1/jobs/${id}/events`).catch(() => null))?.json?.data ?? [];
    const last = events.slice(-3).map((e: { at: string; message: string }) => `${e.at} ${e.message}`);
    lines.push(`    ${id} (${job?.status}): ${last.join(' | ')}`);
  }
  return [`  not succeeded, by status: ${JSON.stringify(counts)}`, ...lines];
}

async function main(): Promise<void> {
  const type = DEFAULT_TEST_TYPES[0]!;
  const stack = await startStack({
    ipBase: 10,
    ipPrefix: '127.0.15.',
    lightHosts: true,
    instanceTypes: [{ ...type, capacity: { 'us-east-1': JOBS, 'us-west-1': JOBS } }],
    extraEnv: {
      TRAIN_POLL_MS,
      ...(process.env.BENCH_WORKER_CONCURRENCY ? { WORKER_CONCURRENCY: process.env.BENCH_WORKER_CONCURRENCY } : {}),
    },
  });
  try {
    const { figures, notSucceeded } = await run(stack);
    // The figures first: explaining the failures asks the API again, which may fail too.
    process.stdout.write(figures.join('\n'));
    process.stdout.write([...(await unfinished(stack, notSucceeded)), ''].join('\n'));
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

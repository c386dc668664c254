/**
 * Benchmark (issue 18, "transfers at line rate"): our host transfer engine (transfer.sh + transfer.py
 * rendered by @inno-train/host-protocol, run with the local bash and python3 as on the GPU host)
 * against the AWS CLI v2 (`/usr/bin/aws s3 cp`, default transfer settings), both through the
 * throttle proxy in front of the embedded S3 server, which caps every TCP connection.
 *
 * Real S3 gives one TCP connection ~85-90 MB/s; the proxy scales that down to BENCH_CAP_MBPS
 * (default 10 MB/s) so that on this 2-core machine the per-connection cap, not the CPU, is what an
 * engine has to work around with parallel connections. Each run prints the machine's CPU use and
 * who used it, so a run that hit the CPU instead of the cap says so.
 *
 * Cases: 1) one big object down (BENCH_BIG_MIB, default 2048 MiB), 2) BENCH_SMALL_COUNT (default
 * 2000) objects of 256 KiB down, 3) the big file up (multipart). Every result is checked byte for
 * byte against the source before its figure is printed.
 *
 * Env: BENCH_CAP_MBPS, BENCH_BIG_MIB, BENCH_SMALL_COUNT, BENCH_CONNECTIONS (ours; default the
 * workflow's TRANSFER budget), BENCH_CASES (e.g. "1,3"), BENCH_ENGINES ("ours,cli"),
 * BENCH_CASE_DEADLINE_S (default 600), BENCH_DIR (where temp files go; default the OS temp dir),
 * BENCH_QUIET_WAIT_S (default 120: how long each run waits for an idle machine first).
 *
 * CPU, per run, from /proc: the client (the CLI, or bash + python3: their own `times`), the S3
 * server process, the proxy (this process), the kernel (irq + softirq, where loopback TCP's receive
 * work lands, and kernel threads such as writeback), other processes by name (a build running beside
 * the bench spoils the figures, and the run says so), and steal (the hypervisor's, outside our control).
 * Run: npm run build && npm run bench:transfer -w tests/pipeline
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  renderStageInScript,
  renderStageOutScript,
  stageInResultSchema,
  stageOutResultSchema,
  uploadPartSize,
  type StageInFile,
} from '@inno-train/host-protocol';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import { TRANSFER } from '@inno-train/workflow-constants';
import { testS3Client } from '../s3-helpers';
import { startThrottleProxy, type RequestRecord, type ThrottleProxy } from '../throttle-proxy';

const MiB = 1024 * 1024;
const MB = 1e6;
const BUCKET = 'bench';
const AWS = '/usr/bin/aws';
const SMALL_BYTES = 256 * 1024;
const BLOCK_BYTES = 64 * MiB;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
  return value;
}

const CAP_MBPS = envNumber('BENCH_CAP_MBPS', 10);
const BIG_MIB = envNumber('BENCH_BIG_MIB', 2048);
const SMALL_COUNT = envNumber('BENCH_SMALL_COUNT', 2000);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', TRANSFER.connections);
const DEADLINE_MS = envNumber('BENCH_CASE_DEADLINE_S', 600) * 1000;
const CASES = new Set((process.env.BENCH_CASES ?? '1,2,3').split(',').map((c) => c.trim()));
/** Longest wait for an idle machine before each run (BENCH_QUIET_WAIT_S, default 120). */
const QUIET_WAIT_MS = envNumber('BENCH_QUIET_WAIT_S', 120) * 1000;
const ENGINES = new Set((process.env.BENCH_ENGINES ?? 'ours,cli').split(',').map((e) => e.trim()));

/** Children still running (own process groups), killed on a deadline or when the bench exits. */
const children = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

process.on('exit', () => {
  for (const child of children) killGroup(child);
});

// ---- CPU accounting --------------------------------------------------------------------------

const TICKS = 100; // USER_HZ on Linux
const CORES = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 1;

interface MachineTicks {
  /** user + nice + system */
  tasks: number;
  /** irq + softirq (loopback TCP's receive work lands here) */
  irq: number;
  /** time the hypervisor ran someone else on our vCPUs */
  steal: number;
  total: number;
}

/** The whole machine's (all cores) time by kind, from /proc/stat, in jiffies. */
function machineTicks(): MachineTicks {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  return {
    tasks: at(0) + at(1) + at(2),
    irq: at(5) + at(6),
    steal: at(7),
    total: at(0) + at(1) + at(2) + at(3) + at(4) + at(5) + at(6) + at(7),
  };
}

interface ProcessTicks {
  name: string;
  /** Kernel threads (children of kthreadd): writeback, softirq daemons. */
  kernel: boolean;
  ticks: number;
}

/** utime + stime of every process now, in jiffies. */
function processTicks(): Map<number, ProcessTicks> {
  const out = new Map<number, ProcessTicks>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      out.set(pid, { name, kernel: pid === 2 || fields[1] === '2', ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/**
 * A readable name for a process: `node tsc`, `python3 transfer.py`, `redis-server` (comm alone says
 * "MainThread" for every Node 24 process). Undefined once it has exited.
 */
function commandName(pid: number): string | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const base = (arg: string | undefined): string => (arg ?? '').split('/').pop() ?? '';
    const program = base(argv[0]);
    if (/^(node|python[\d.]*|bash|sh)$/.test(program) && argv[1] && !argv[1].startsWith('-')) return `${program} ${base(argv[1])}`;
    return program || undefined;
  } catch {
    return undefined;
  }
}

/** The embedded S3 server's process: our child started with --openssl-legacy-provider. */
function findS3Pid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('--openssl-legacy-provider')) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

interface CpuUse {
  /** Share of the whole machine busy during the run (processes, irq, softirq), 0..1. */
  machine: number;
  /** Cores' worth used (1.0 = one core fully) by the client process tree, the S3 server, the proxy. */
  client: number;
  s3: number;
  proxy: number;
  /** Cores' worth of irq + softirq and kernel threads (writeback...): mostly the transfer's own kernel work. */
  kernel: number;
  /** Cores' worth used by other processes (another build or test run spoils the figures), with the top ones. */
  others: number;
  topOthers: string;
  /** Cores' worth the hypervisor took away (steal): noise from outside the machine. */
  steal: number;
}

class CpuMeter {
  private readonly machine0 = machineTicks();
  private readonly processes0 = processTicks();
  private readonly proxy0 = process.cpuUsage();
  private readonly started = performance.now();

  constructor(private readonly s3Pid: number | undefined) {}

  stop(clientCpuSeconds: number): CpuUse {
    const seconds = (performance.now() - this.started) / 1000;
    const machine = machineTicks();
    const processes = processTicks();
    const proxy = process.cpuUsage(this.proxy0);
    const span = Math.max(1, machine.total - this.machine0.total);
    const cores = (ticks: number): number => ticks / TICKS / seconds;
    const delta = (pid: number): number => Math.max(0, (processes.get(pid)?.ticks ?? 0) - (this.processes0.get(pid)?.ticks ?? 0));
    let kernelThreads = 0;
    const others: { pid: number; name: string; ticks: number }[] = [];
    for (const [pid, now] of processes) {
      if (pid === process.pid || pid === this.s3Pid) continue;
      const ticks = delta(pid);
      if (ticks === 0) continue;
      if (now.kernel) kernelThreads += ticks;
      else others.push({ pid, name: now.name, ticks });
    }
    others.sort((a, b) => b.ticks - a.ticks);
    const byName = new Map<string, number>();
    for (const other of others) {
      const name = commandName(other.pid) ?? other.name;
      byName.set(name, (byName.get(name) ?? 0) + other.ticks);
    }
    const top = [...byName.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .filter(([, ticks]) => cores(ticks) >= 0.05)
      .map(([name, ticks]) => `${name} ${Math.round(cores(ticks) * 100)}%`);
    return {
      machine: (machine.tasks + machine.irq - this.machine0.tasks - this.machine0.irq) / span,
      client: clientCpuSeconds / seconds,
      s3: this.s3Pid === undefined ? 0 : cores(delta(this.s3Pid)),
      proxy: (proxy.user + proxy.system) / 1e6 / seconds,
      kernel: cores(machine.irq - this.machine0.irq + kernelThreads),
      others: cores(others.reduce((sum, other) => sum + other.ticks, 0)),
      topOthers: top.join(', '),
      steal: ((machine.steal - this.machine0.steal) / span) * CORES,
    };
  }
}

function cpuText(cpu: CpuUse): string {
  const pct = (v: number): string => `${Math.round(v * 100)}%`;
  const others = cpu.topOthers ? `${pct(cpu.others)}: ${cpu.topOthers}` : pct(cpu.others);
  const steal = cpu.steal >= 0.05 ? `, steal ${pct(cpu.steal)}` : '';
  return (
    `machine ${pct(cpu.machine)} (client ${pct(cpu.client)}, S3 ${pct(cpu.s3)}, proxy ${pct(cpu.proxy)}, ` +
    `kernel ${pct(cpu.kernel)}, others ${others}${steal})`
  );
}

/** The table's form: machine % [client, S3, proxy, others in % of one core]. */
function cpuShort(cpu: CpuUse): string {
  const pct = (v: number): number => Math.round(v * 100);
  return `${pct(cpu.machine)}% [c${pct(cpu.client)} s${pct(cpu.s3)} p${pct(cpu.proxy)} o${pct(cpu.others)}]`;
}

/**
 * Waits (up to QUIET_WAIT_MS) until the machine is mostly idle for a second, so that a build or test
 * run of someone else's does not eat the cores a run needs; returns the busy share it last saw.
 */
async function waitForQuiet(): Promise<number> {
  const until = performance.now() + QUIET_WAIT_MS;
  let share = 1;
  do {
    const before = machineTicks();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = machineTicks();
    share = (after.tasks + after.irq - before.tasks - before.irq) / Math.max(1, after.total - before.total);
  } while (share > 0.2 && performance.now() < until);
  return share;
}

// ---- children --------------------------------------------------------------------------------

interface ChildRun {
  code: number | null;
  output: string;
  /** CPU seconds (user + system) of the command and everything it waited for. */
  cpuSeconds: number;
  timedOut: boolean;
}

/**
 * Runs a command in its own process group under bash, which reports the CPU time of its waited-for
 * children (`times`) into a file; killed (the whole group) at the deadline.
 */
async function runTimed(command: string[], env: NodeJS.ProcessEnv, scratch: string, deadlineMs: number): Promise<ChildRun> {
  const timesFile = join(scratch, `times-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const wrapper = '"$@"; rc=$?; times >"$BENCH_TIMES_FILE"; exit $rc';
  const child = spawn('bash', ['-c', wrapper, 'bench', ...command], {
    env: { ...env, BENCH_TIMES_FILE: timesFile },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, deadlineMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  children.delete(child);
  let cpuSeconds = 0;
  if (existsSync(timesFile)) {
    // Second line of `times`: the children's user and system time, e.g. "0m1.234s 0m0.567s".
    const line = (await readFile(timesFile, 'utf8')).split('\n')[1] ?? '';
    for (const [, m, s] of line.matchAll(/(\d+)m([\d.]+)s/g)) cpuSeconds += Number(m) * 60 + Number(s);
    await rm(timesFile, { force: true });
  }
  return { code, output, cpuSeconds, timedOut };
}

// ---- data ------------------------------------------------------------------------------------

/** Writes `bytes` of data: one random 64 MiB block repeated, each copy stamped with its index. Returns its SHA-256. */
async function writeBigFile(path: string, bytes: number): Promise<string> {
  const block = randomBytes(Math.min(BLOCK_BYTES, Math.max(bytes, 16)));
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  let written = 0;
  for (let index = 0; written < bytes; index++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(block.length, bytes - written)));
    if (chunk.length >= 8) chunk.writeBigUInt64LE(BigInt(index), 0);
    hash.update(chunk);
    written += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

/** The bytes of small object `index`: a shared random block stamped with the index. */
function smallBody(base: Buffer, index: number): Buffer {
  const body = Buffer.from(base);
  body.write(`small-${String(index).padStart(8, '0')}`, 0, 'latin1');
  return body;
}

function smallKey(index: number): string {
  return `small/obj-${String(index).padStart(6, '0')}.bin`;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sha256Object(client: S3Client, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** MD5 hex of a single-part ETag ("<32 hex>"), which the engine checks the download against. */
function md5OfEtag(etag: string | undefined): string | undefined {
  const match = /^"?([0-9a-f]{32})"?$/.exec(etag ?? '');
  return match?.[1];
}

// ---- the bench -------------------------------------------------------------------------------

interface Measured {
  seconds: number;
  bytes: number;
  connections: number;
  peakConnections: number;
  /** Most connections with a request in flight at once: what the cap's ceiling is made of. */
  peakActive: number;
  requests: number;
  /** Time s3rver took to answer CompleteMultipartUpload (it concatenates the parts), seconds. */
  completeSeconds?: number;
  cpu: CpuUse;
  error?: string;
}

interface Context {
  s3: S3ServerHandle;
  s3Pid: number | undefined;
  proxy: ThrottleProxy;
  direct: S3Client;
  storage: S3Storage;
  root: string;
  awsEnv: NodeJS.ProcessEnv;
  hostEnv: NodeJS.ProcessEnv;
  bigFile: string;
  bigSha: string;
  bigBytes: number;
  smallBase: Buffer;
}

/** Runs one measured command; verification happens after, outside the timing. */
async function measure(ctx: Context, bytes: number, run: () => Promise<{ cpuSeconds: number; error?: string }>): Promise<Measured> {
  const idle = await waitForQuiet();
  if (idle > 0.2)
    process.stdout.write(`  (the machine stayed ${Math.round(idle * 100)}% busy for ${QUIET_WAIT_MS / 1000} s before this run)\n`);
  ctx.proxy.reset();
  const meter = new CpuMeter(ctx.s3Pid);
  const started = performance.now();
  let outcome: { cpuSeconds: number; error?: string };
  try {
    outcome = await run();
  } catch (err) {
    outcome = { cpuSeconds: 0, error: err instanceof Error ? err.message : String(err) };
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.stop(outcome.cpuSeconds);
  const stats = ctx.proxy.stats();
  return {
    seconds,
    bytes,
    connections: stats.connections,
    peakConnections: stats.peakConnections,
    peakActive: stats.peakActiveConnections,
    requests: stats.requests.length,
    ...completeTime(stats.requests),
    cpu,
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}

function completeTime(requests: RequestRecord[]): { completeSeconds?: number } {
  const complete = requests.find((r) => r.method === 'POST' && r.uploadId);
  return complete?.ms === undefined ? {} : { completeSeconds: complete.ms / 1000 };
}

function childError(run: ChildRun, what: string): string | undefined {
  if (run.timedOut) return `${what}: killed at the ${DEADLINE_MS / 1000} s deadline`;
  if (run.code !== 0) return `${what}: exit ${run.code}: ${run.output.trim().split('\n').slice(-3).join(' | ')}`;
  return undefined;
}

async function runCli(ctx: Context, args: string[]): Promise<{ cpuSeconds: number; error?: string }> {
  const run = await runTimed([AWS, ...args, '--only-show-errors', '--endpoint-url', ctx.proxy.endpoint], ctx.awsEnv, ctx.root, DEADLINE_MS);
  const error = childError(run, 'aws');
  return { cpuSeconds: run.cpuSeconds, ...(error ? { error } : {}) };
}

async function runEngine(ctx: Context, dir: string, script: string): Promise<{ cpuSeconds: number; status: unknown; error?: string }> {
  const file = join(dir, 'script.sh');
  await writeFile(file, script, { mode: 0o700 });
  const statusFile = join(dir, 'status.json');
  const run = await runTimed(['bash', file], ctx.hostEnv, ctx.root, DEADLINE_MS);
  const status: unknown = existsSync(statusFile) ? JSON.parse(await readFile(statusFile, 'utf8')) : undefined;
  const error = childError(run, 'engine');
  return { cpuSeconds: run.cpuSeconds, status, ...(error ? { error } : {}) };
}

async function newDir(ctx: Context, name: string): Promise<string> {
  const dir = join(ctx.root, `${name}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

// Case 1: one big object down.
async function bigDownCli(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'cli-big');
  try {
    const m = await measure(ctx, ctx.bigBytes, () => runCli(ctx, ['s3', 'cp', `s3://${BUCKET}/big.bin`, `${dir}/`]));
    if (!m.error && (await sha256File(join(dir, 'big.bin'))) !== ctx.bigSha) m.error = 'downloaded bytes differ from the source';
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function bigDownOurs(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'ours-big');
  try {
    const head = await ctx.direct.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big.bin' }));
    const md5 = md5OfEtag(head.ETag);
    const files: StageInFile[] = [
      { relPath: 'inputs/big.bin', url: await ctx.storage.presignGet(BUCKET, 'big.bin'), size: ctx.bigBytes, ...(md5 ? { md5 } : {}) },
    ];
    const m = await measure(ctx, ctx.bigBytes, async () => {
      const script = renderStageInScript({
        jobDir: join(dir, 'job'),
        statusFile: join(dir, 'status.json'),
        connections: CONNECTIONS,
        files,
      });
      const out = await runEngine(ctx, dir, script);
      if (out.error) return out;
      const status = stageInResultSchema.parse(out.status);
      return status.ok ? out : { ...out, error: `engine failed: ${JSON.stringify(status.failed.slice(0, 3))}` };
    });
    if (!m.error && (await sha256File(join(dir, 'job', 'inputs', 'big.bin'))) !== ctx.bigSha)
      m.error = 'downloaded bytes differ from the source';
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Case 2: many small objects down.
async function checkSmallDir(ctx: Context, dir: string): Promise<string | undefined> {
  for (let index = 0; index < SMALL_COUNT; index++) {
    const path = join(dir, smallKey(index).slice('small/'.length));
    if (!existsSync(path)) return `${path} is missing`;
    if (!(await readFile(path)).equals(smallBody(ctx.smallBase, index))) return `${path} differs from the source`;
  }
  return undefined;
}

async function smallDownCli(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'cli-small');
  try {
    const m = await measure(ctx, SMALL_COUNT * SMALL_BYTES, () =>
      runCli(ctx, ['s3', 'cp', '--recursive', `s3://${BUCKET}/small/`, `${dir}/`]),
    );
    if (!m.error) {
      const problem = await checkSmallDir(ctx, dir);
      if (problem) m.error = problem;
    }
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function smallDownOurs(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'ours-small');
  try {
    // The orchestrator's part, untimed (the CLI's own listing is inside its time): list, presign.
    const listed: { key: string; size: number; etag?: string }[] = [];
    let token: string | undefined;
    do {
      const page = await ctx.direct.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'small/', ContinuationToken: token }));
      for (const item of page.Contents ?? [])
        listed.push({ key: item.Key!, size: item.Size ?? 0, ...(item.ETag ? { etag: item.ETag } : {}) });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const files: StageInFile[] = await Promise.all(
      listed.map(async (object) => {
        const md5 = md5OfEtag(object.etag);
        return {
          relPath: `inputs/${object.key.slice('small/'.length)}`,
          url: await ctx.storage.presignGet(BUCKET, object.key),
          size: object.size,
          ...(md5 ? { md5 } : {}),
        };
      }),
    );
    if (files.length !== SMALL_COUNT) throw new Error(`listed ${files.length} small objects, expected ${SMALL_COUNT}`);
    const m = await measure(ctx, SMALL_COUNT * SMALL_BYTES, async () => {
      const script = renderStageInScript({
        jobDir: join(dir, 'job'),
        statusFile: join(dir, 'status.json'),
        connections: CONNECTIONS,
        files,
      });
      const out = await runEngine(ctx, dir, script);
      if (out.error) return out;
      const status = stageInResultSchema.parse(out.status);
      return status.ok ? out : { ...out, error: `engine failed: ${JSON.stringify(status.failed.slice(0, 3))}` };
    });
    if (!m.error) {
      const problem = await checkSmallDir(ctx, join(dir, 'job', 'inputs'));
      if (problem) m.error = problem;
    }
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Case 3: the big file up.
async function checkUploaded(ctx: Context, key: string): Promise<string | undefined> {
  try {
    return (await sha256Object(ctx.direct, key)) === ctx.bigSha ? undefined : `${key} differs from the source`;
  } finally {
    await ctx.direct.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  }
}

async function bigUpCli(ctx: Context): Promise<Measured> {
  const m = await measure(ctx, ctx.bigBytes, () => runCli(ctx, ['s3', 'cp', ctx.bigFile, `s3://${BUCKET}/up-cli.bin`]));
  if (!m.error) {
    const problem = await checkUploaded(ctx, 'up-cli.bin');
    if (problem) m.error = problem;
  }
  return m;
}

async function bigUpOurs(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'ours-up');
  const key = 'up-ours.bin';
  try {
    await mkdir(join(dir, 'job', 'output'), { recursive: true });
    // A hard link: the job's output without copying gigabytes.
    await link(ctx.bigFile, join(dir, 'job', 'output', 'model.bin'));
    const partSize = uploadPartSize(ctx.bigBytes);
    const count = Math.max(1, Math.ceil(ctx.bigBytes / partSize));
    // Timed like the CLI's upload: create the upload, send the parts, complete it.
    const m = await measure(ctx, ctx.bigBytes, async () => {
      const uploadId = await ctx.storage.createMultipartUpload(BUCKET, key);
      const parts = await Promise.all(
        Array.from({ length: count }, async (_, i) => ({
          partNumber: i + 1,
          url: await ctx.storage.presignUploadPart(BUCKET, key, uploadId, i + 1),
        })),
      );
      const script = renderStageOutScript({
        jobDir: join(dir, 'job'),
        statusFile: join(dir, 'status.json'),
        connections: CONNECTIONS,
        uploads: [{ kind: 'multipart', relPath: 'output/model.bin', uploadId, partSize, parts, size: ctx.bigBytes }],
      });
      const out = await runEngine(ctx, dir, script);
      if (out.error) return out;
      const status = stageOutResultSchema.parse(out.status);
      const sent = status.parts['output/model.bin'];
      if (!status.ok || !sent) return { ...out, error: `engine failed: ${JSON.stringify(status.failed.slice(0, 3))}` };
      await ctx.storage.completeMultipartUpload(BUCKET, key, uploadId, sent);
      return out;
    });
    if (!m.error) {
      const problem = await checkUploaded(ctx, key);
      if (problem) m.error = problem;
    }
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- output ----------------------------------------------------------------------------------

const capBytes = CAP_MBPS * MB;

function rate(m: Measured | undefined): string {
  if (!m) return '-';
  if (m.error) return 'FAILED';
  return (m.bytes / m.seconds / MB).toFixed(1);
}

/**
 * What held a run back: the per-connection cap (near connections x cap), one of the single-threaded
 * Node processes (s3rver, or the proxy in this process) at a full core, or the whole machine's CPU.
 */
function limit(m: Measured): string {
  if (m.error) return '';
  const ceiling = Math.max(1, m.peakActive) * capBytes;
  const achieved = m.bytes / m.seconds;
  if (capBytes > 0 && achieved >= 0.8 * ceiling) return 'cap';
  if (m.cpu.s3 >= 0.85) return "the S3 server's one core";
  if (m.cpu.proxy >= 0.85) return "the proxy's one core";
  if (m.cpu.others >= 0.25 || m.cpu.steal >= 0.25) return 'CPU taken by OTHER processes or the hypervisor: figures not valid';
  if (m.cpu.machine >= 0.9) return 'CPU';
  return 'neither cap nor CPU (latency, per-request cost, or the server)';
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ');
}

async function main(): Promise<void> {
  if (!existsSync(AWS)) throw new Error(`${AWS} is missing (apt-get install awscli)`);
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-transfer-'));
  const cleanUp = async (): Promise<void> => {
    for (const child of children) killGroup(child);
    await rm(root, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let s3: S3ServerHandle | undefined;
  let proxy: ThrottleProxy | undefined;
  try {
    s3 = await startS3Server({ buckets: [BUCKET], directory: join(root, 's3') });
    proxy = await startThrottleProxy({ upstream: s3.endpoint, bytesPerSecond: capBytes });
    const direct = testS3Client(s3);
    const storage = createS3Storage({
      region: s3.region,
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      presignExpiresSeconds: 3600,
    });

    // Config files of our own, empty of transfer settings: nothing of the user's leaks in.
    const awsConfig = join(root, 'aws-config');
    await writeFile(awsConfig, '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n');
    const awsCredentials = join(root, 'aws-credentials');
    await writeFile(awsCredentials, '');
    const basePath = '/usr/local/bin:/usr/bin:/bin';
    const plainEnv: NodeJS.ProcessEnv = { PATH: basePath, HOME: root, LANG: 'C.UTF-8', TMPDIR: root };
    const awsEnv: NodeJS.ProcessEnv = {
      ...plainEnv,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      AWS_DEFAULT_REGION: s3.region,
      AWS_CONFIG_FILE: awsConfig,
      AWS_SHARED_CREDENTIALS_FILE: awsCredentials,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    };
    const awsVersion = execFileSync(AWS, ['--version'], { env: awsEnv, encoding: 'utf8' }).trim();
    const pythonVersion = execFileSync('python3', ['--version'], { env: plainEnv, encoding: 'utf8' }).trim();

    // Data, straight into the S3 server (not through the proxy).
    const bigBytes = Math.round(BIG_MIB * MiB);
    const bigFile = join(root, 'big.bin');
    let started = performance.now();
    const bigSha = await writeBigFile(bigFile, bigBytes);
    const needBigObject = CASES.has('1');
    if (needBigObject) {
      await direct.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'big.bin',
          Body: createReadStream(bigFile),
          ContentLength: (await stat(bigFile)).size,
        }),
      );
    }
    const smallBase = randomBytes(SMALL_BYTES);
    if (CASES.has('2')) {
      const indexes = Array.from({ length: SMALL_COUNT }, (_, i) => i);
      await inBatches(indexes, 16, async (index) => {
        await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: smallKey(index), Body: smallBody(smallBase, index) }));
      });
    }
    const prepared = (performance.now() - started) / 1000;

    const ctx: Context = {
      s3,
      s3Pid: findS3Pid(),
      proxy,
      direct,
      storage,
      root,
      awsEnv,
      hostEnv: plainEnv,
      bigFile,
      bigSha,
      bigBytes,
      smallBase,
    };

    const out = process.stdout;
    out.write(`bench:transfer: our host engine vs the AWS CLI, through a proxy capping each TCP connection\n`);
    out.write(
      `  Real S3 gives ~85-90 MB/s per connection; the proxy caps each at ${CAP_MBPS} MB/s (BENCH_CAP_MBPS; MB = 10^6 B) so that\n` +
        `  parallel connections, not this ${CORES}-core machine's CPU, set the pace. ` +
        `Each run's CPU use is printed; 'limit' says what held it back.\n`,
    );
    out.write(
      CAP_MBPS > 0
        ? `  Ceilings set by the cap: ours ${CONNECTIONS} x ${CAP_MBPS} = ${CONNECTIONS * CAP_MBPS} MB/s, AWS CLI 10 x ${CAP_MBPS} = ${10 * CAP_MBPS} MB/s ` +
            `(real S3 at ~87 MB/s per connection: ${((CONNECTIONS * 87) / 1000).toFixed(1)} GB/s and 0.87 GB/s)\n`
        : `  No cap (BENCH_CAP_MBPS=0): these figures are this machine's ceiling (s3rver, the proxy and the client share ${CORES} cores)\n`,
    );
    out.write(`  AWS CLI: ${awsVersion} (${AWS}, default transfer settings: 10 concurrent requests, 8 MiB chunks)\n`);
    out.write(
      `  Ours: transfer.sh + transfer.py with ${pythonVersion}, connections=${CONNECTIONS}, part size up ${uploadPartSize(bigBytes) / MiB} MiB\n`,
    );
    out.write(
      `  Data: big ${BIG_MIB} MiB (sha256 ${bigSha.slice(0, 16)}...), ${SMALL_COUNT} x 256 KiB; prepared in ${prepared.toFixed(1)} s\n`,
    );
    out.write(`  Commands (each with --only-show-errors --endpoint-url ${proxy.endpoint}):\n`);
    out.write(
      `    1 down:  aws s3 cp s3://${BUCKET}/big.bin DIR/        | ours: renderStageInScript, 1 file (md5 from the ETag), bash script.sh\n`,
    );
    out.write(
      `    2 small: aws s3 cp --recursive s3://${BUCKET}/small/ DIR/ | ours: renderStageInScript, ${SMALL_COUNT} files (listing + presigning untimed)\n`,
    );
    out.write(
      `    3 up:    aws s3 cp FILE s3://${BUCKET}/up-cli.bin     | ours: create upload + renderStageOutScript + bash + complete, all timed\n`,
    );
    out.write(`  Every result is checked byte for byte against the source (sha256; case 2: every file) before it counts.\n\n`);

    const cases: {
      id: string;
      label: string;
      bytes: number;
      ours: (c: Context) => Promise<Measured>;
      cli: (c: Context) => Promise<Measured>;
    }[] = [
      { id: '1', label: `1 ${BIG_MIB} MiB down`, bytes: bigBytes, ours: bigDownOurs, cli: bigDownCli },
      { id: '2', label: `2 ${SMALL_COUNT} x 256 KiB down`, bytes: SMALL_COUNT * SMALL_BYTES, ours: smallDownOurs, cli: smallDownCli },
      { id: '3', label: `3 ${BIG_MIB} MiB up`, bytes: bigBytes, ours: bigUpOurs, cli: bigUpCli },
    ];
    const results: { label: string; bytes: number; ours?: Measured; cli?: Measured }[] = [];
    for (const c of cases) {
      if (!CASES.has(c.id)) continue;
      const result: (typeof results)[number] = { label: c.label, bytes: c.bytes };
      if (ENGINES.has('cli')) {
        result.cli = await c.cli(ctx);
        out.write(`  case ${c.label}, AWS CLI: ${describe(result.cli)}\n`);
      }
      if (ENGINES.has('ours')) {
        result.ours = await c.ours(ctx);
        out.write(`  case ${c.label}, ours:    ${describe(result.ours)}\n`);
      }
      results.push(result);
    }

    const widths = [24, 14, 9, 12, 6, 32, 48];
    out.write(
      `\n${row(['case', 'bytes', 'ours MB/s', 'AWS CLI MB/s', 'ratio', 'connections (ours / CLI)', 'CPU (ours / CLI)'], widths)}\n`,
    );
    out.write(`${widths.map((w) => '-'.repeat(w)).join('-|-')}\n`);
    for (const r of results) {
      const ratio = r.ours && r.cli && !r.ours.error && !r.cli.error ? (r.cli.seconds / r.ours.seconds).toFixed(2) : '-';
      const connText = (m: Measured | undefined): string => (m ? `${m.connections} (${m.peakActive} active)` : '-');
      const conns = `${connText(r.ours)} / ${connText(r.cli)}`;
      const cpu = `${r.ours ? cpuShort(r.ours.cpu) : '-'} / ${r.cli ? cpuShort(r.cli.cpu) : '-'}`;
      out.write(`${row([r.label, String(r.bytes), rate(r.ours), rate(r.cli), ratio, conns, cpu], widths)}\n`);
    }
    out.write(
      `\n  ratio = ours MB/s / AWS CLI MB/s. connections: opened (most with a request in flight at once).\n` +
        `  CPU: machine % of all cores busy [c client (the CLI, or bash+python3), s S3 (s3rver), p proxy (this process), ` +
        `o other processes], each in % of one core; the per-run lines above break it down further (kernel, steal).\n`,
    );
    const failed = results.flatMap((r) => [r.ours, r.cli]).filter((m) => m?.error);
    direct.destroy();
    storage.destroy();
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    await proxy?.close();
    await s3?.close();
    await cleanUp();
  }
}

function describe(m: Measured): string {
  if (m.error) return `FAILED after ${m.seconds.toFixed(1)} s: ${m.error}`;
  return (
    `${(m.bytes / m.seconds / MB).toFixed(1)} MB/s (${m.seconds.toFixed(1)} s), ${m.requests} requests on ${m.connections} connections ` +
    `(peak ${m.peakConnections} open, ${m.peakActive} with a request in flight; ` +
    `${capBytes > 0 ? `cap ceiling ${((Math.max(1, m.peakActive) * capBytes) / MB).toFixed(0)} MB/s` : 'no cap'}), ` +
    `${m.completeSeconds === undefined ? '' : `CompleteMultipartUpload ${m.completeSeconds.toFixed(1)} s of it, `}` +
    `CPU ${cpuText(m.cpu)}, limit: ${limit(m)}`
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

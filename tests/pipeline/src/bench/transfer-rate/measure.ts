/**
 * One measured run of the transfer-rate bench and what it shares with the others: the Context (the
 * servers, clients, environments and data every case uses), the Measured figures of a run (time,
 * the proxy's connection counts, CPU use, or why it failed), and measure(), which waits for an idle
 * machine and times one run with its CPU use; checking the result is left to the caller, outside the timing.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Storage } from '@inno-train/storage';
import type { S3ServerHandle } from '@inno-train/test-kit';
import type { RequestRecord, ThrottleProxy } from '../../throttle-proxy';
import { capBytes, QUIET_WAIT_MS } from './config';
import { CpuMeter, waitForQuiet, type CpuUse } from './cpu';

export interface Measured {
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

export interface Context {
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
export async function measure(ctx: Context, bytes: number, run: () => Promise<{ cpuSeconds: number; error?: string }>): Promise<Measured> {
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

/** A fresh directory under the bench's root for one run's files. */
export async function newDir(ctx: Context, name: string): Promise<string> {
  const dir = join(ctx.root, `${name}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * What held a run back: the per-connection cap (near connections x cap), one of the single-threaded
 * Node processes (s3rver, or the proxy in this process) at a full core, or the whole machine's CPU.
 */
export function limit(m: Measured): string {
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

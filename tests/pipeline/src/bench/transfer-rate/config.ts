/**
 * The transfer-rate bench's settings: units, the bucket and the AWS CLI's path, and the BENCH_*
 * environment variables (described in the entry point's header, bench/transfer-rate.ts), read once
 * when the bench starts so that a bad value stops it before any server is started.
 */
import { TRANSFER } from '@inno-train/workflow-constants';

export const MiB = 1024 * 1024;
export const MB = 1e6;
export const BUCKET = 'bench';
export const AWS = '/usr/bin/aws';
export const SMALL_BYTES = 256 * 1024;
export const BLOCK_BYTES = 64 * MiB;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
  return value;
}

export const CAP_MBPS = envNumber('BENCH_CAP_MBPS', 10);
export const BIG_MIB = envNumber('BENCH_BIG_MIB', 2048);
export const SMALL_COUNT = envNumber('BENCH_SMALL_COUNT', 2000);
export const CONNECTIONS = envNumber('BENCH_CONNECTIONS', TRANSFER.connections);
export const DEADLINE_MS = envNumber('BENCH_CASE_DEADLINE_S', 600) * 1000;
export const CASES = new Set((process.env.BENCH_CASES ?? '1,2,3').split(',').map((c) => c.trim()));
/** Longest wait for an idle machine before each run (BENCH_QUIET_WAIT_S, default 120). */
export const QUIET_WAIT_MS = envNumber('BENCH_QUIET_WAIT_S', 120) * 1000;
export const ENGINES = new Set((process.env.BENCH_ENGINES ?? 'ours,cli').split(',').map((e) => e.trim()));
/** The proxy's per-connection cap in bytes per second; 0 means no cap. */
export const capBytes = CAP_MBPS * MB;

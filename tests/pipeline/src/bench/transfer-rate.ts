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
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import { testS3Client } from '../s3-helpers';
import { startThrottleProxy, type ThrottleProxy } from '../throttle-proxy';
import { awsCliEnv, awsCliVersion, bigDownCli, bigUpCli, smallDownCli } from './transfer-rate/aws-cli';
import { children, killGroup } from './transfer-rate/children';
import { AWS, BIG_MIB, BUCKET, capBytes, CASES, ENGINES, SMALL_BYTES, SMALL_COUNT } from './transfer-rate/config';
import { findS3Pid } from './transfer-rate/cpu';
import { prepareData } from './transfer-rate/data';
import type { Context, Measured } from './transfer-rate/measure';
import { bigDownOurs, bigUpOurs, pythonVersion, smallDownOurs } from './transfer-rate/ours';
import { describe, printHeader, printTable, type CaseResult } from './transfer-rate/report';

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
    await runBench(root, s3, proxy);
  } finally {
    await proxy?.close();
    await s3?.close();
    await cleanUp();
  }
}

/** With the servers up: the environments, the data, the header, every chosen case, the table; exit code 1 if a run failed. */
async function runBench(root: string, s3: S3ServerHandle, proxy: ThrottleProxy): Promise<void> {
  const direct = testS3Client(s3);
  const storage = benchStorage(s3, proxy);
  const basePath = '/usr/local/bin:/usr/bin:/bin';
  const plainEnv: NodeJS.ProcessEnv = { PATH: basePath, HOME: root, LANG: 'C.UTF-8', TMPDIR: root };
  const awsEnv = await awsCliEnv(root, s3, plainEnv);
  const awsVersion = awsCliVersion(awsEnv);
  const python = pythonVersion(plainEnv);

  // Data, straight into the S3 server (not through the proxy).
  const data = await prepareData(root, direct);
  const { bigFile, bigSha, bigBytes, smallBase } = data;
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
  printHeader(out, {
    awsVersion,
    pythonVersion: python,
    proxyEndpoint: proxy.endpoint,
    bigBytes,
    bigSha,
    preparedSeconds: data.preparedSeconds,
  });
  const results = await runCases(ctx, out);
  printTable(out, results);
  const failed = results.flatMap((r) => [r.ours, r.cli]).filter((m) => m?.error);
  direct.destroy();
  storage.destroy();
  if (failed.length > 0) process.exitCode = 1;
}

/** Our engine's presigner, pointed at the proxy so its URLs go through the cap. */
function benchStorage(s3: S3ServerHandle, proxy: ThrottleProxy): S3Storage {
  return createS3Storage({
    region: s3.region,
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    presignExpiresSeconds: 3600,
  });
}

/** Each chosen case with each chosen engine (the CLI first), one line per run as it ends. */
async function runCases(ctx: Context, out: NodeJS.WritableStream): Promise<CaseResult[]> {
  const cases: {
    id: string;
    label: string;
    bytes: number;
    ours: (c: Context) => Promise<Measured>;
    cli: (c: Context) => Promise<Measured>;
  }[] = [
    { id: '1', label: `1 ${BIG_MIB} MiB down`, bytes: ctx.bigBytes, ours: bigDownOurs, cli: bigDownCli },
    { id: '2', label: `2 ${SMALL_COUNT} x 256 KiB down`, bytes: SMALL_COUNT * SMALL_BYTES, ours: smallDownOurs, cli: smallDownCli },
    { id: '3', label: `3 ${BIG_MIB} MiB up`, bytes: ctx.bigBytes, ours: bigUpOurs, cli: bigUpCli },
  ];
  const results: CaseResult[] = [];
  for (const c of cases) {
    if (!CASES.has(c.id)) continue;
    const result: CaseResult = { label: c.label, bytes: c.bytes };
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
  return results;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

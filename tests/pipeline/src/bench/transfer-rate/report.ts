/**
 * What the transfer-rate bench prints: the header (the cap, the engines and their versions, the
 * data, the commands compared), one line per run with its figures, CPU use and what held it back,
 * and the closing table of both engines side by side with its legend.
 */
import { uploadPartSize } from '@inno-train/host-protocol';
import { AWS, BIG_MIB, BUCKET, CAP_MBPS, capBytes, CONNECTIONS, MB, MiB, SMALL_COUNT } from './config';
import { CORES, cpuShort, cpuText } from './cpu';
import { limit, type Measured } from './measure';

/** One case's outcome: each engine's run, if it ran. */
export interface CaseResult {
  label: string;
  bytes: number;
  ours?: Measured;
  cli?: Measured;
}

/** What the header reports besides the settings. */
export interface HeaderFacts {
  awsVersion: string;
  pythonVersion: string;
  proxyEndpoint: string;
  bigBytes: number;
  bigSha: string;
  preparedSeconds: number;
}

/** The header: what is compared, under which cap, with which versions, on which data, by which commands. */
export function printHeader(out: NodeJS.WritableStream, facts: HeaderFacts): void {
  const { awsVersion, pythonVersion, bigBytes, bigSha } = facts;
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
    `  Data: big ${BIG_MIB} MiB (sha256 ${bigSha.slice(0, 16)}...), ${SMALL_COUNT} x 256 KiB; prepared in ${facts.preparedSeconds.toFixed(1)} s\n`,
  );
  out.write(`  Commands (each with --only-show-errors --endpoint-url ${facts.proxyEndpoint}):\n`);
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
}

/** One run's line: its rate, requests and connections, CPU use and what held it back; or why it failed. */
export function describe(m: Measured): string {
  if (m.error) return `FAILED after ${m.seconds.toFixed(1)} s: ${m.error}`;
  return (
    `${(m.bytes / m.seconds / MB).toFixed(1)} MB/s (${m.seconds.toFixed(1)} s), ${m.requests} requests on ${m.connections} connections ` +
    `(peak ${m.peakConnections} open, ${m.peakActive} with a request in flight; ` +
    `${capBytes > 0 ? `cap ceiling ${((Math.max(1, m.peakActive) * capBytes) / MB).toFixed(0)} MB/s` : 'no cap'}), ` +
    `${m.completeSeconds === undefined ? '' : `CompleteMultipartUpload ${m.completeSeconds.toFixed(1)} s of it, `}` +
    `CPU ${cpuText(m.cpu)}, limit: ${limit(m)}`
  );
}

function rate(m: Measured | undefined): string {
  if (!m) return '-';
  if (m.error) return 'FAILED';
  return (m.bytes / m.seconds / MB).toFixed(1);
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ');
}

/** The closing table, both engines side by side per case, and its legend. */
export function printTable(out: NodeJS.WritableStream, results: CaseResult[]): void {
  const widths = [24, 14, 9, 12, 6, 32, 48];
  out.write(`\n${row(['case', 'bytes', 'ours MB/s', 'AWS CLI MB/s', 'ratio', 'connections (ours / CLI)', 'CPU (ours / CLI)'], widths)}\n`);
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
}

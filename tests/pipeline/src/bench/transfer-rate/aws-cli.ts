/**
 * The transfer-rate bench's AWS CLI side: the CLI v2 (`/usr/bin/aws s3 cp`, default transfer
 * settings) run with config files of our own and only the S3 server's credentials, through the
 * throttle proxy, for each case (the big object down, the small objects down, the big file up), each
 * result checked byte for byte against the source after the timed run.
 */
import { execFileSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3ServerHandle } from '@inno-train/test-kit';
import { childError, runTimed } from './children';
import { AWS, BUCKET, DEADLINE_MS, SMALL_BYTES, SMALL_COUNT } from './config';
import { checkSmallDir, checkUploaded, sha256File } from './data';
import { measure, newDir, type Context, type Measured } from './measure';

/** The CLI's environment: config files of our own, empty of transfer settings, so nothing of the user's leaks in. */
export async function awsCliEnv(root: string, s3: S3ServerHandle, plainEnv: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const awsConfig = join(root, 'aws-config');
  await writeFile(awsConfig, '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n');
  const awsCredentials = join(root, 'aws-credentials');
  await writeFile(awsCredentials, '');
  return {
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
}

/** What `aws --version` says, for the report's header. */
export function awsCliVersion(awsEnv: NodeJS.ProcessEnv): string {
  return execFileSync(AWS, ['--version'], { env: awsEnv, encoding: 'utf8' }).trim();
}

/** One CLI command through the proxy, errors only on its output; its CPU is the CLI's whole process tree. */
async function runCli(ctx: Context, args: string[]): Promise<{ cpuSeconds: number; error?: string }> {
  const run = await runTimed([AWS, ...args, '--only-show-errors', '--endpoint-url', ctx.proxy.endpoint], ctx.awsEnv, ctx.root, DEADLINE_MS);
  const error = childError(run, 'aws');
  return { cpuSeconds: run.cpuSeconds, ...(error ? { error } : {}) };
}

// Case 1: one big object down.
export async function bigDownCli(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'cli-big');
  try {
    const m = await measure(ctx, ctx.bigBytes, () => runCli(ctx, ['s3', 'cp', `s3://${BUCKET}/big.bin`, `${dir}/`]));
    if (!m.error && (await sha256File(join(dir, 'big.bin'))) !== ctx.bigSha) m.error = 'downloaded bytes differ from the source';
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Case 2: many small objects down.
export async function smallDownCli(ctx: Context): Promise<Measured> {
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

// Case 3: the big file up.
export async function bigUpCli(ctx: Context): Promise<Measured> {
  const m = await measure(ctx, ctx.bigBytes, () => runCli(ctx, ['s3', 'cp', ctx.bigFile, `s3://${BUCKET}/up-cli.bin`]));
  if (!m.error) {
    const problem = await checkUploaded(ctx, 'up-cli.bin');
    if (problem) m.error = problem;
  }
  return m;
}

/**
 * The transfer-rate bench's side for our host transfer engine: transfer.sh + transfer.py rendered by
 * @inno-train/host-protocol and run with the local bash and python3, as on the GPU host, through the
 * throttle proxy, for each case (the big object down, the small objects down, the big file up). The
 * orchestrator's share (listing, presigning) is untimed where the CLI has no counterpart to it, and
 * every result is checked byte for byte against the source after the timed run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  renderStageInScript,
  renderStageOutScript,
  stageInResultSchema,
  stageOutResultSchema,
  uploadPartSize,
  type StageInFile,
} from '@inno-train/host-protocol';
import { childError, runTimed } from './children';
import { BUCKET, CONNECTIONS, DEADLINE_MS, SMALL_BYTES, SMALL_COUNT } from './config';
import { checkSmallDir, checkUploaded, md5OfEtag, sha256File } from './data';
import { measure, newDir, type Context, type Measured } from './measure';

/** What `python3 --version` says (the engine's interpreter), for the report's header. */
export function pythonVersion(hostEnv: NodeJS.ProcessEnv): string {
  return execFileSync('python3', ['--version'], { env: hostEnv, encoding: 'utf8' }).trim();
}

/** Runs a rendered engine script with bash in `dir`; returns its CPU time and the status file it wrote, if any. */
async function runEngine(ctx: Context, dir: string, script: string): Promise<{ cpuSeconds: number; status: unknown; error?: string }> {
  const file = join(dir, 'script.sh');
  await writeFile(file, script, { mode: 0o700 });
  const statusFile = join(dir, 'status.json');
  const run = await runTimed(['bash', file], ctx.hostEnv, ctx.root, DEADLINE_MS);
  const status: unknown = existsSync(statusFile) ? JSON.parse(await readFile(statusFile, 'utf8')) : undefined;
  const error = childError(run, 'engine');
  return { cpuSeconds: run.cpuSeconds, status, ...(error ? { error } : {}) };
}

/** The timed part of a download: render the stage-in script for `files` into `dir/job` and run it. */
async function runStageIn(ctx: Context, dir: string, files: StageInFile[]): Promise<{ cpuSeconds: number; error?: string }> {
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
}

// Case 1: one big object down.
export async function bigDownOurs(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'ours-big');
  try {
    const head = await ctx.direct.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big.bin' }));
    const md5 = md5OfEtag(head.ETag);
    const files: StageInFile[] = [
      { relPath: 'inputs/big.bin', url: await ctx.storage.presignGet(BUCKET, 'big.bin'), size: ctx.bigBytes, ...(md5 ? { md5 } : {}) },
    ];
    const m = await measure(ctx, ctx.bigBytes, () => runStageIn(ctx, dir, files));
    if (!m.error && (await sha256File(join(dir, 'job', 'inputs', 'big.bin'))) !== ctx.bigSha)
      m.error = 'downloaded bytes differ from the source';
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Case 2: many small objects down.
/** The orchestrator's part, untimed (the CLI's own listing is inside its time): list the small objects, presign each. */
async function presignSmallObjects(ctx: Context): Promise<StageInFile[]> {
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
  return files;
}

export async function smallDownOurs(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'ours-small');
  try {
    const files = await presignSmallObjects(ctx);
    const m = await measure(ctx, SMALL_COUNT * SMALL_BYTES, () => runStageIn(ctx, dir, files));
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
/**
 * The timed part of an upload, like the CLI's: create the multipart upload, presign its `count` parts,
 * run the stage-out script that sends them from `dir/job/output/model.bin`, complete the upload.
 */
async function runMultipartUpload(
  ctx: Context,
  dir: string,
  key: string,
  partSize: number,
  count: number,
): Promise<{ cpuSeconds: number; error?: string }> {
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
}

export async function bigUpOurs(ctx: Context): Promise<Measured> {
  const dir = await newDir(ctx, 'ours-up');
  const key = 'up-ours.bin';
  try {
    await mkdir(join(dir, 'job', 'output'), { recursive: true });
    // A hard link: the job's output without copying gigabytes.
    await link(ctx.bigFile, join(dir, 'job', 'output', 'model.bin'));
    const partSize = uploadPartSize(ctx.bigBytes);
    const count = Math.max(1, Math.ceil(ctx.bigBytes / partSize));
    const m = await measure(ctx, ctx.bigBytes, () => runMultipartUpload(ctx, dir, key, partSize, count));
    if (!m.error) {
      const problem = await checkUploaded(ctx, key);
      if (problem) m.error = problem;
    }
    return m;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

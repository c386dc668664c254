/**
 * The transfer-rate bench's data: the big file (one random block repeated, each copy stamped so no
 * two are alike) and the small objects, put straight into the S3 server (not through the proxy),
 * and the byte-for-byte checks every result passes before its figure counts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BIG_MIB, BLOCK_BYTES, BUCKET, CASES, MiB, SMALL_BYTES, SMALL_COUNT } from './config';
import type { Context } from './measure';

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
export function smallBody(base: Buffer, index: number): Buffer {
  const body = Buffer.from(base);
  body.write(`small-${String(index).padStart(8, '0')}`, 0, 'latin1');
  return body;
}

export function smallKey(index: number): string {
  return `small/obj-${String(index).padStart(6, '0')}.bin`;
}

export async function sha256File(path: string): Promise<string> {
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
export function md5OfEtag(etag: string | undefined): string | undefined {
  const match = /^"?([0-9a-f]{32})"?$/.exec(etag ?? '');
  return match?.[1];
}

export interface BenchData {
  bigFile: string;
  bigSha: string;
  bigBytes: number;
  /** The random block every small object is made of (see smallBody). */
  smallBase: Buffer;
  /** How long writing the file and putting the objects took, seconds. */
  preparedSeconds: number;
}

/** Writes the big file under `root` and puts the objects the chosen cases read into the S3 server directly. */
export async function prepareData(root: string, direct: S3Client): Promise<BenchData> {
  const bigBytes = Math.round(BIG_MIB * MiB);
  const bigFile = join(root, 'big.bin');
  const started = performance.now();
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
  const preparedSeconds = (performance.now() - started) / 1000;
  return { bigFile, bigSha, bigBytes, smallBase, preparedSeconds };
}

/** Case 2's check: every small object is in `dir`, byte for byte. */
export async function checkSmallDir(ctx: Context, dir: string): Promise<string | undefined> {
  for (let index = 0; index < SMALL_COUNT; index++) {
    const path = join(dir, smallKey(index).slice('small/'.length));
    if (!existsSync(path)) return `${path} is missing`;
    if (!(await readFile(path)).equals(smallBody(ctx.smallBase, index))) return `${path} differs from the source`;
  }
  return undefined;
}

/** Case 3's check: the uploaded object is the big file, byte for byte; deleted either way. */
export async function checkUploaded(ctx: Context, key: string): Promise<string | undefined> {
  try {
    return (await sha256Object(ctx.direct, key)) === ctx.bigSha ? undefined : `${key} differs from the source`;
  } finally {
    await ctx.direct.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  }
}

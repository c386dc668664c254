/**
 * S3 access for the orchestrator. Only metadata calls (HEAD, LIST, multipart bookkeeping), tiny
 * generated files and presigning happen here: dataset and output bytes move between S3 and the GPU
 * host with curl and presigned URLs, never through this process.
 */
import {
  AbortMultipartUploadCommand,
  type BucketLocationConstraint,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { FileTransferError, InnoError } from '@inno-train/core';
import { httpStatusOf, s3ErrorCode, wrapS3Error } from './errors';
import { formatS3Uri, parseS3Uri, type S3Location } from './uri';

export interface S3StorageOptions {
  region: string;
  /** For MinIO / s3rver; omit for AWS. */
  endpoint?: string;
  /** Path-style addressing (`endpoint/bucket/key`): needed by MinIO and s3rver. */
  forcePathStyle?: boolean;
  /** Omitted: the AWS SDK's default provider chain (instance role, ...) supplies credentials. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Lifetime of presigned URLs when a call does not give one (default 3600 s). */
  presignExpiresSeconds?: number;
  /** SDK attempts per metadata call (default 3). */
  maxAttempts?: number;
}

export interface S3ObjectInfo {
  key: string;
  size: number;
  /** As listed, quotes included: the MD5 of the bytes for a single-part upload without KMS. */
  etag?: string;
  /** Flexible checksums the object was stored with (ListObjectsV2's ChecksumAlgorithm). */
  checksumAlgorithms?: string[];
}

export interface CheckedInput {
  kind: 'object' | 'prefix';
  location: S3Location;
  /** Objects to download; directory placeholder keys (ending in `/`) are left out. */
  objects: S3ObjectInfo[];
  totalBytes: number;
}

export interface CompletedPart {
  partNumber: number;
  /** As returned by UploadPart, quotes included (`"abc..."`). */
  etag: string;
}

export interface S3Storage {
  /** `encryption`: S3's ServerSideEncryption (`AES256`, `aws:kms`, `aws:kms:dsse`), or `SSE-C` for customer keys. */
  headObject(bucket: string, key: string): Promise<{ size: number; etag: string; encryption?: string } | null>;
  /** The object's full-object SHA-256 (base64) when S3 publishes one (HeadObject, ChecksumMode ENABLED); else null. */
  objectSha256(bucket: string, key: string): Promise<string | null>;
  /** Every object under the prefix (all pages), or the first `limit`; `maxKeys` is the page size. */
  listPrefix(bucket: string, prefix: string, options?: { maxKeys?: number; limit?: number }): Promise<S3ObjectInfo[]>;
  /** Throws InnoError `input_not_found` when the object, or every object of the prefix, is missing. */
  checkInput(uri: string | S3Location): Promise<CheckedInput>;
  presignGet(bucket: string, key: string, expiresSeconds?: number): Promise<string>;
  presignPut(bucket: string, key: string, expiresSeconds?: number): Promise<string>;
  createMultipartUpload(bucket: string, key: string): Promise<string>;
  presignUploadPart(bucket: string, key: string, uploadId: string, partNumber: number, expiresSeconds?: number): Promise<string>;
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string | undefined }>;
  /** Idempotent: an upload that is already gone counts as aborted. */
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  /** For our own tiny generated files (config.yaml); at most 1 MiB, never dataset bytes. */
  putSmallObject(bucket: string, key: string, body: string, contentType?: string): Promise<void>;
  ensureBucket(bucket: string): Promise<void>;
  /** The object as UTF-8 text, or null when it does not exist; throws when larger than maxBytes. */
  getObjectText(bucket: string, key: string, maxBytes: number): Promise<string | null>;
  /** Closes the SDK client's sockets. */
  destroy(): void;
}

const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const MAX_SMALL_OBJECT_BYTES = 1024 * 1024;
const MAX_PART_NUMBER = 10_000;

function invalidArgument(message: string): InnoError {
  return new InnoError('invalid_argument', message);
}

function checkExpiry(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_SECONDS) {
    throw invalidArgument(`Presigned URL lifetime must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS}, got ${seconds}`);
  }
  return seconds;
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw invalidArgument(`Part numbers run from 1 to ${MAX_PART_NUMBER}, got ${partNumber}`);
  }
}

function isNotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return httpStatusOf(err) === 404 || code === 'NotFound' || code === 'NoSuchKey';
}

function sortedParts(parts: CompletedPart[]): { PartNumber: number; ETag: string }[] {
  if (parts.length === 0) throw invalidArgument('A multipart upload needs at least one part');
  const seen = new Set<number>();
  for (const part of parts) {
    checkPartNumber(part.partNumber);
    if (seen.has(part.partNumber)) throw invalidArgument(`Part ${part.partNumber} is listed twice`);
    if (typeof part.etag !== 'string' || part.etag.trim() === '') throw invalidArgument(`Part ${part.partNumber} has no ETag`);
    seen.add(part.partNumber);
  }
  return [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => ({ PartNumber: p.partNumber, ETag: p.etag }));
}

export function createS3Storage(options: S3StorageOptions): S3Storage {
  return new S3StorageClient(options);
}

/** Every SDK failure leaves as a FileTransferError with a scrubbed message (see errors.ts). */
class S3StorageClient implements S3Storage {
  private readonly client: S3Client;
  private readonly secrets: string[];
  private readonly defaultExpiry: number;
  private readonly region: string;

  constructor(options: S3StorageOptions) {
    this.defaultExpiry = checkExpiry(options.presignExpiresSeconds ?? 3600);
    this.region = options.region;
    this.secrets = [options.credentials?.secretAccessKey, options.credentials?.sessionToken].filter(
      (value): value is string => typeof value === 'string' && value !== '',
    );
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      maxAttempts: options.maxAttempts ?? 3,
      // Checksums only when S3 demands them: a presigned URL that asks for a flexible checksum
      // cannot be used by a plain `curl -T`, and MinIO/s3rver do not all speak them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async headObject(bucket: string, key: string): Promise<{ size: number; etag: string; encryption?: string } | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const encryption = out.SSECustomerAlgorithm ? 'SSE-C' : out.ServerSideEncryption;
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? '', ...(encryption ? { encryption: String(encryption) } : {}) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'HeadObject', bucket, key);
    }
  }

  async objectSha256(bucket: string, key: string): Promise<string | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
      // A composite checksum (of the parts' checksums, "<base64>-N") says nothing of the whole file.
      const value = out.ChecksumSHA256;
      return value && !value.includes('-') && out.ChecksumType !== 'COMPOSITE' ? value : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'HeadObject', bucket, key);
    }
  }

  /** Every object under the prefix (all pages), or the first `limit` of them. `maxKeys` is the page size. */
  async listPrefix(bucket: string, prefix: string, options: { maxKeys?: number; limit?: number } = {}): Promise<S3ObjectInfo[]> {
    const objects: S3ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const input = { Bucket: bucket, Prefix: prefix, MaxKeys: options.maxKeys, ContinuationToken: token };
      const page = await this.call('ListObjectsV2', bucket, prefix, () => this.client.send(new ListObjectsV2Command(input)));
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        objects.push({
          key: item.Key,
          size: item.Size ?? 0,
          ...(item.ETag ? { etag: item.ETag } : {}),
          ...(item.ChecksumAlgorithm?.length ? { checksumAlgorithms: item.ChecksumAlgorithm.map(String) } : {}),
        });
      }
      // A server saying "truncated" without a token would otherwise make this loop forever.
      if (options.limit !== undefined && objects.length >= options.limit) return objects.slice(0, options.limit);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token) {
        throw new FileTransferError(
          'storage_request_failed',
          `Listing s3://${bucket}/${prefix} was truncated without a continuation token`,
        );
      }
    } while (token);
    return objects;
  }

  // async so that an invalid URI rejects like every other failure instead of throwing synchronously.
  async checkInput(uri: string | S3Location): Promise<CheckedInput> {
    return checkInput(this, typeof uri === 'string' ? parseS3Uri(uri) : uri);
  }

  async presignGet(bucket: string, key: string, expiresSeconds?: number): Promise<string> {
    return this.presign('presign GetObject', bucket, key, new GetObjectCommand({ Bucket: bucket, Key: key }), expiresSeconds);
  }

  async presignPut(bucket: string, key: string, expiresSeconds?: number): Promise<string> {
    return this.presign('presign PutObject', bucket, key, new PutObjectCommand({ Bucket: bucket, Key: key }), expiresSeconds);
  }

  async createMultipartUpload(bucket: string, key: string): Promise<string> {
    const command = new CreateMultipartUploadCommand({ Bucket: bucket, Key: key });
    const out = await this.call('CreateMultipartUpload', bucket, key, () => this.client.send(command));
    if (!out.UploadId) throw new FileTransferError('storage_request_failed', `S3 returned no upload id for s3://${bucket}/${key}`);
    return out.UploadId;
  }

  async presignUploadPart(bucket: string, key: string, uploadId: string, partNumber: number, expiresSeconds?: number): Promise<string> {
    checkPartNumber(partNumber);
    const command = new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber });
    return this.presign('presign UploadPart', bucket, key, command, expiresSeconds);
  }

  async completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: CompletedPart[],
  ): Promise<{ etag: string | undefined }> {
    const command = new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: sortedParts(parts) },
    });
    const out = await this.call('CompleteMultipartUpload', bucket, key, () => this.client.send(command));
    return { etag: out.ETag };
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      if (s3ErrorCode(err) === 'NoSuchUpload') return;
      throw this.wrap(err, 'AbortMultipartUpload', bucket, key);
    }
  }

  async putSmallObject(bucket: string, key: string, body: string, contentType?: string): Promise<void> {
    const bytes = Buffer.from(body, 'utf8');
    if (bytes.length > MAX_SMALL_OBJECT_BYTES) {
      throw invalidArgument(`putSmallObject is for small generated files (at most ${MAX_SMALL_OBJECT_BYTES} bytes), got ${bytes.length}`);
    }
    const command = new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: bytes,
      ContentType: contentType ?? 'text/plain; charset=utf-8',
    });
    await this.call('PutObject', bucket, key, () => this.client.send(command));
  }

  async ensureBucket(bucket: string): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (err) {
      if (!isNotFound(err) && s3ErrorCode(err) !== 'NoSuchBucket') throw this.wrap(err, 'HeadBucket', bucket);
    }
    // us-east-1 is S3's default location and must not be named explicitly.
    const configuration = this.region === 'us-east-1' ? undefined : { LocationConstraint: this.region as BucketLocationConstraint };
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: configuration }));
    } catch (err) {
      // Created meanwhile (by another run of the same step): that is the wanted state.
      if (s3ErrorCode(err) === 'BucketAlreadyOwnedByYou') return;
      throw this.wrap(err, 'CreateBucket', bucket);
    }
  }

  async getObjectText(bucket: string, key: string, maxBytes: number): Promise<string | null> {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw invalidArgument(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'GetObject', bucket, key);
    }
    try {
      return await readLimited(out.Body as AsyncIterable<Uint8Array> | undefined, out.ContentLength, maxBytes, `s3://${bucket}/${key}`);
    } catch (err) {
      if (err instanceof InnoError) throw err;
      throw this.wrap(err, 'GetObject', bucket, key);
    }
  }

  destroy(): void {
    this.client.destroy();
  }

  private wrap(err: unknown, operation: string, bucket: string, key?: string): FileTransferError {
    return wrapS3Error(err, { operation, bucket, key, secrets: this.secrets });
  }

  /** Runs one SDK call and turns its failure into a FileTransferError. */
  private async call<T>(operation: string, bucket: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.wrap(err, operation, bucket, key);
    }
  }

  /** Presigning is local computation, but it can still fail (no credentials): same wrapping. */
  private async presign(
    operation: string,
    bucket: string,
    key: string,
    command: GetObjectCommand | PutObjectCommand | UploadPartCommand,
    expiresSeconds: number | undefined,
  ): Promise<string> {
    const expiresIn = checkExpiry(expiresSeconds ?? this.defaultExpiry);
    // getSignedUrl is generic per command type; the union is fine at run time.
    return this.call(operation, bucket, key, () => getSignedUrl(this.client, command as GetObjectCommand, { expiresIn }));
  }
}

async function checkInput(storage: S3Storage, location: S3Location): Promise<CheckedInput> {
  const uri = formatS3Uri(location.bucket, location.key);
  if (location.isPrefix) {
    const listed = await storage.listPrefix(location.bucket, location.key);
    // Keys ending in "/" are folder placeholders made by consoles, not files to download.
    const objects = listed.filter((object) => !object.key.endsWith('/'));
    if (objects.length === 0) {
      throw new InnoError('input_not_found', `No objects found under ${uri}`, { details: { uri } });
    }
    return { kind: 'prefix', location, objects, totalBytes: objects.reduce((sum, o) => sum + o.size, 0) };
  }
  const head = await storage.headObject(location.bucket, location.key);
  if (!head) {
    // A common slip is naming a folder without its trailing slash: say so rather than just "missing".
    const under = await storage.listPrefix(location.bucket, `${location.key}/`, { maxKeys: 1, limit: 1 }).catch(() => []);
    const hint = under.length > 0 ? ` (objects exist under ${uri}/ — add a trailing "/" to use the prefix)` : '';
    throw new InnoError('input_not_found', `Object ${uri} does not exist${hint}`, { details: { uri } });
  }
  const object = { key: location.key, size: head.size, ...(head.etag ? { etag: head.etag } : {}) };
  return { kind: 'object', location, objects: [object], totalBytes: head.size };
}

/** Reads a body, refusing (and abandoning the stream) as soon as it passes maxBytes. */
async function readLimited(
  body: AsyncIterable<Uint8Array> | undefined,
  length: number | undefined,
  maxBytes: number,
  uri: string,
): Promise<string> {
  const tooLarge = () => new InnoError('object_too_large', `${uri} is larger than ${maxBytes} bytes`, { details: { uri, maxBytes } });
  if (!body) return '';
  if ((length ?? 0) > maxBytes) {
    (body as { destroy?: () => void }).destroy?.();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving the loop early (throw) destroys the stream, so an oversized body is not read to the end.
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

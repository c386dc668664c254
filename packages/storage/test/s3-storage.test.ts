import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { FileTransferError, InnoError } from '@inno-train/core';
import { startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import { createS3Storage, wrapS3Error, type S3Storage } from '../src';

const BUCKET = 'inno-test';
const MiB = 1024 * 1024;

let server: S3ServerHandle;
let storage: S3Storage;

function storageFor(overrides: Partial<Parameters<typeof createS3Storage>[0]> = {}): S3Storage {
  return createS3Storage({
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<InnoError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InnoError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function putViaUrl(url: string, body: Uint8Array): Promise<Response> {
  return fetch(url, { method: 'PUT', body });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
  storage = storageFor();
});

afterAll(async () => {
  storage?.destroy();
  await server?.close();
});

describe('metadata calls', () => {
  beforeAll(async () => {
    for (const name of ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt']) {
      await storage.putSmallObject(BUCKET, `list/${name}`, `content of ${name}`);
    }
    await storage.putSmallObject(BUCKET, 'list-other/x.txt', 'not under list/');
    await storage.putSmallObject(BUCKET, 'folder/', '');
    await storage.putSmallObject(BUCKET, 'folder/one.bin', 'x'.repeat(1000));
    await storage.putSmallObject(BUCKET, 'folder/sub/two.bin', 'y'.repeat(24));
  });

  it('headObject gives size and etag, or null', async () => {
    const head = await storage.headObject(BUCKET, 'list/a.txt');
    expect(head).toEqual({ size: 'content of a.txt'.length, etag: expect.stringMatching(/^"[0-9a-f]{32}"$/) });
    expect(await storage.headObject(BUCKET, 'list/missing.txt')).toBeNull();
  });

  it('listPrefix follows every page', async () => {
    const listed = await storage.listPrefix(BUCKET, 'list/', { maxKeys: 2 });
    expect(listed.map((o) => o.key).sort()).toEqual(['a', 'b', 'c', 'd', 'e'].map((n) => `list/${n}.txt`));
    expect(listed.every((o) => o.size === 'content of a.txt'.length)).toBe(true);
  });

  it('checkInput describes an object and a prefix, leaving out folder placeholders', async () => {
    const object = await storage.checkInput('s3://inno-test/folder/one.bin');
    expect(object).toMatchObject({ kind: 'object', objects: [{ key: 'folder/one.bin', size: 1000 }], totalBytes: 1000 });
    const prefix = await storage.checkInput(`s3://${BUCKET}/folder/`);
    expect(prefix.kind).toBe('prefix');
    expect(prefix.objects.map((o) => o.key).sort()).toEqual(['folder/one.bin', 'folder/sub/two.bin']);
    expect(prefix.totalBytes).toBe(1024);
  });

  it('checkInput throws input_not_found, with a hint when a prefix was meant', async () => {
    const missing = await rejection(storage.checkInput(`s3://${BUCKET}/nothing/here.txt`));
    expect(missing.code).toBe('input_not_found');
    const empty = await rejection(storage.checkInput(`s3://${BUCKET}/nothing/`));
    expect(empty.code).toBe('input_not_found');
    const slip = await rejection(storage.checkInput(`s3://${BUCKET}/folder`));
    expect(slip.code).toBe('input_not_found');
    expect(slip.message).toMatch(/add a trailing "\/"/);
    expect((await rejection(storage.checkInput('s3://inno-test/a/../b'))).code).toBe('invalid_s3_uri');
  });

  it('wraps a missing bucket as storage_bucket_not_found, not retryable', async () => {
    const err = await rejection(storage.listPrefix('no-such-bucket', ''));
    expect(err).toBeInstanceOf(FileTransferError);
    expect(err).toMatchObject({ code: 'storage_bucket_not_found', retryable: false });
  });
});

describe('presigned URLs', () => {
  it('GET works with a plain HTTP client and a tampered signature is refused', async () => {
    const body = randomBytes(64 * 1024);
    const key = "odd name/it's $(touch x) ü [1].bin";
    await putViaUrl(await storage.presignPut(BUCKET, key, 60), body);
    const url = await storage.presignGet(BUCKET, key, 60);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
    const tampered = url.replace(/X-Amz-Signature=[0-9a-f]/, (m) => `${m.slice(0, -1)}${m.endsWith('0') ? '1' : '0'}`);
    expect((await fetch(tampered)).status).toBe(403);
  });

  it('PUT stores the bytes', async () => {
    const body = randomBytes(300 * 1024);
    const res = await putViaUrl(await storage.presignPut(BUCKET, 'put/obj.bin'), body);
    expect(res.status).toBe(200);
    expect(await storage.headObject(BUCKET, 'put/obj.bin')).toMatchObject({ size: body.length });
  });

  it('multipart: presigned parts uploaded out of order, completed in any order of the list', async () => {
    const data = randomBytes(11 * MiB);
    const key = 'multi/big.bin';
    const uploadId = await storage.createMultipartUpload(BUCKET, key);
    const slices = [data.subarray(0, 5 * MiB), data.subarray(5 * MiB, 10 * MiB), data.subarray(10 * MiB)];
    const parts = [];
    for (const index of [2, 0, 1]) {
      const url = await storage.presignUploadPart(BUCKET, key, uploadId, index + 1, 120);
      const res = await putViaUrl(url, slices[index]!);
      expect(res.status).toBe(200);
      parts.push({ partNumber: index + 1, etag: res.headers.get('etag') ?? '' });
    }
    const done = await storage.completeMultipartUpload(BUCKET, key, uploadId, parts);
    expect(done.etag).toBeTruthy();
    const got = Buffer.from(await (await fetch(await storage.presignGet(BUCKET, key))).arrayBuffer());
    expect(got.equals(data)).toBe(true);
  });

  it('abortMultipartUpload is idempotent', async () => {
    const uploadId = await storage.createMultipartUpload(BUCKET, 'multi/aborted.bin');
    await putViaUrl(await storage.presignUploadPart(BUCKET, 'multi/aborted.bin', uploadId, 1), randomBytes(1024));
    await storage.abortMultipartUpload(BUCKET, 'multi/aborted.bin', uploadId);
    await storage.abortMultipartUpload(BUCKET, 'multi/aborted.bin', uploadId);
    const err = await rejection(storage.completeMultipartUpload(BUCKET, 'multi/aborted.bin', uploadId, [{ partNumber: 1, etag: '"x"' }]));
    expect(err).toBeInstanceOf(FileTransferError);
  });

  it('rejects bad lifetimes, part numbers and part lists before calling S3', async () => {
    expect((await rejection(storage.presignGet(BUCKET, 'k', 0))).code).toBe('invalid_argument');
    expect((await rejection(storage.presignGet(BUCKET, 'k', 8 * 24 * 3600))).code).toBe('invalid_argument');
    expect((await rejection(storage.presignUploadPart(BUCKET, 'k', 'u', 0))).code).toBe('invalid_argument');
    expect((await rejection(storage.presignUploadPart(BUCKET, 'k', 'u', 10_001))).code).toBe('invalid_argument');
    expect((await rejection(storage.completeMultipartUpload(BUCKET, 'k', 'u', []))).code).toBe('invalid_argument');
    const twice = [
      { partNumber: 1, etag: '"a"' },
      { partNumber: 1, etag: '"b"' },
    ];
    expect((await rejection(storage.completeMultipartUpload(BUCKET, 'k', 'u', twice))).code).toBe('invalid_argument');
    expect(() => createS3Storage({ region: 'us-east-1', presignExpiresSeconds: -5 })).toThrow(InnoError);
  });
});

describe('small objects and buckets', () => {
  it('putSmallObject and getObjectText round-trip; limits hold', async () => {
    const text = 'lr: 0.001\nname: "ü-run"\n';
    await storage.putSmallObject(BUCKET, 'jobs/j1/config.yaml', text, 'application/yaml');
    expect(await storage.getObjectText(BUCKET, 'jobs/j1/config.yaml', 1024)).toBe(text);
    expect(await storage.getObjectText(BUCKET, 'jobs/j1/missing.yaml', 1024)).toBeNull();
    expect((await rejection(storage.getObjectText(BUCKET, 'jobs/j1/config.yaml', 5))).code).toBe('object_too_large');
    expect((await rejection(storage.putSmallObject(BUCKET, 'big', 'x'.repeat(MiB + 1)))).code).toBe('invalid_argument');
  });

  it('ensureBucket creates a bucket once and is idempotent', async () => {
    await storage.ensureBucket('fresh-bucket');
    await storage.ensureBucket('fresh-bucket');
    await storage.putSmallObject('fresh-bucket', 'k.txt', 'ok');
    // The listing carries the ETag: for a single PUT, the MD5 of the bytes (what stage-in checks downloads against).
    const md5 = createHash('md5').update('ok').digest('hex');
    expect(await storage.listPrefix('fresh-bucket', '')).toEqual([{ key: 'k.txt', size: 2, etag: `"${md5}"` }]);
    // No flexible checksum was stored with it: no SHA-256 to publish.
    expect(await storage.objectSha256('fresh-bucket', 'k.txt')).toBeNull();
    expect(await storage.objectSha256('fresh-bucket', 'missing.txt')).toBeNull();
  });
});

describe('errors', () => {
  it('a wrong secret gives storage_access_denied without leaking the secret', async () => {
    const secret = 'wrong-secret-value-1234567890';
    const bad = storageFor({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: secret } });
    try {
      const err = await rejection(bad.listPrefix(BUCKET, ''));
      expect(err).toMatchObject({ code: 'storage_access_denied', retryable: false });
      expect(err.message).toMatch(/SignatureDoesNotMatch/);
      expect(`${err.message} ${JSON.stringify(err.details)}`).not.toContain(secret);
      expect(err.cause).toBeUndefined();
    } finally {
      bad.destroy();
    }
  });

  it('an unreachable endpoint gives a retryable storage_unavailable', async () => {
    const port = await freePort();
    const down = storageFor({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    try {
      const err = await rejection(down.headObject(BUCKET, 'k'));
      expect(err).toMatchObject({ code: 'storage_unavailable', retryable: true });
    } finally {
      down.destroy();
    }
  });

  it('wrapS3Error classifies server errors and scrubs signatures and secrets', () => {
    const sdkError = Object.assign(new Error('failed https://b/k?X-Amz-Signature=abcdef0123&x=1 key=SeCrEtKeY99'), {
      name: 'InternalError',
      $metadata: { httpStatusCode: 500 },
    });
    const err = wrapS3Error(sdkError, { operation: 'GetObject', bucket: 'b', key: 'k', secrets: ['SeCrEtKeY99'] });
    expect(err).toMatchObject({ code: 'storage_unavailable', retryable: true });
    expect(err.message).not.toMatch(/abcdef0123|SeCrEtKeY99/);
    const slow = wrapS3Error(Object.assign(new Error('slow'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }), {
      operation: 'x',
      bucket: 'b',
    });
    expect(slow.retryable).toBe(true);
    const invalid = wrapS3Error(new Error('Expected uri parameter'), { operation: 'x', bucket: 'b' });
    expect(invalid).toMatchObject({ code: 'storage_request_failed', retryable: false });
  });
});

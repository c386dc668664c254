import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
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
  AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startS3Server, type S3ServerHandle } from '../src/s3-server';

function clientFor(server: S3ServerHandle, secretAccessKey: string = server.secretAccessKey): S3Client {
  return new S3Client({
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** curl's HTTP status for a request; synchronous on purpose (the server runs in another process). */
function curlStatus(args: string[]): number {
  const out = spawnSync('curl', ['-g', '-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args], { encoding: 'utf8' });
  return Number(out.stdout);
}

describe('startS3Server', () => {
  let server: S3ServerHandle;
  let s3: S3Client;
  let work: string;

  beforeAll(async () => {
    server = await startS3Server({ buckets: ['kit-bucket'] });
    s3 = clientFor(server);
    work = mkdtempSync(join(tmpdir(), 'kit-s3-test-'));
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('reports a loopback endpoint and the fixed credentials', () => {
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
    expect(server).toMatchObject({ region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
  });

  it('accepts signed bucket-level SDK calls (trailing-slash signature fix) and paginates (DES fix)', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'made-by-sdk' }));
    await s3.send(new HeadBucketCommand({ Bucket: 'made-by-sdk' }));
    for (const n of [1, 2, 3, 4, 5]) {
      await s3.send(new PutObjectCommand({ Bucket: 'made-by-sdk', Key: `p/${n}.txt`, Body: `n${n}` }));
    }
    const keys: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'made-by-sdk', Prefix: 'p/', MaxKeys: 2, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((c) => c.Key ?? ''));
      token = page.NextContinuationToken;
      pages += 1;
    } while (token);
    expect(keys).toEqual([1, 2, 3, 4, 5].map((n) => `p/${n}.txt`));
    expect(pages).toBe(3);
  });

  it('lists keys with XML special characters correctly (double-escaping fix)', async () => {
    const keys = ['x/a&b.txt', "x/it's.txt", 'x/`tick`.txt', 'x/<tag>.txt', 'x/"q".txt', 'x/new\nline.txt'];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'kit-bucket', Key: key, Body: key }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'kit-bucket', Prefix: 'x/' }));
    expect((listed.Contents ?? []).map((c) => c.Key).sort()).toEqual([...keys].sort());
    expect(listed.Contents?.[0]?.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    await expect(s3.send(new GetObjectCommand({ Bucket: 'kit-bucket', Key: 'x/none&none' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('still checks signatures: wrong secret, tampered and expired presigned URLs are refused', async () => {
    const bad = clientFor(server, 'not-the-secret');
    await expect(bad.send(new ListObjectsV2Command({ Bucket: 'kit-bucket' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    bad.destroy();
    await s3.send(new PutObjectCommand({ Bucket: 'kit-bucket', Key: 'sig/obj.txt', Body: 'signed' }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'kit-bucket', Key: 'sig/obj.txt' }), { expiresIn: 60 });
    expect(execFileSync('curl', ['-g', '-sS', '--fail', url], { encoding: 'utf8' })).toBe('signed');
    expect(curlStatus([url.replace(/(X-Amz-Signature=)[0-9a-f]{4}/, '$1dead')])).toBe(403);
    const old = new Date(Date.now() - 3600_000);
    const expired = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'kit-bucket', Key: 'sig/obj.txt' }), {
      expiresIn: 60,
      signingDate: old,
    });
    expect(curlStatus([expired])).toBe(403);
    // Quirk documented in s3-server.ts: a request without any credentials is served anonymously.
    expect(curlStatus([`${server.endpoint}/kit-bucket/sig/obj.txt`])).toBe(200);
  });

  it('supports presigned multipart uploads with curl -T and captures ETags from headers', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 123);
    const file = join(work, 'big.bin');
    writeFileSync(file, data);
    writeFileSync(join(work, 'p1'), data.subarray(0, 5 * 1024 * 1024));
    writeFileSync(join(work, 'p2'), data.subarray(5 * 1024 * 1024));
    const key = 'mp/big file.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'kit-bucket', Key: key }));
    const parts = [];
    for (const partNumber of [1, 2]) {
      const url = await getSignedUrl(s3, new UploadPartCommand({ Bucket: 'kit-bucket', Key: key, UploadId, PartNumber: partNumber }), {
        expiresIn: 60,
      });
      const headers = execFileSync(
        'curl',
        ['-g', '-sS', '--fail', '-X', 'PUT', '-T', join(work, `p${partNumber}`), '-D', '-', '-o', '/dev/null', url],
        { encoding: 'utf8' },
      );
      const etag = /^etag:\s*(\S+)\s*$/im.exec(headers)?.[1];
      expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
      parts.push({ PartNumber: partNumber, ETag: etag });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'kit-bucket', Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'kit-bucket', Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
    expect(readFileSync(file).length).toBe(data.length);
    // Completing it again (a retry after a lost answer) is NoSuchUpload, as on S3, and harms nothing.
    await expect(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: 'kit-bucket', Key: key, UploadId, MultipartUpload: { Parts: parts } })),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
    const again = await s3.send(new GetObjectCommand({ Bucket: 'kit-bucket', Key: key }));
    expect(Buffer.from(await again.Body!.transformToByteArray()).equals(data)).toBe(true);
  });

  it('holds presigned requests on demand (a stalled S3, as the host sees it) and serves them on release', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'kit-bucket', Key: 'hold/obj.txt', Body: 'held bytes' }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'kit-bucket', Key: 'hold/obj.txt' }), { expiresIn: 60 });
    expect(await server.holdPresignedRequests(true)).toBe(0);
    let settled = false;
    const pending = fetch(url).then(async (response) => {
      settled = true;
      return response.text();
    });
    // Wait (with a deadline) until the request has reached the server and is being held.
    const deadline = Date.now() + 5000;
    while ((await server.holdPresignedRequests(true)) !== 1) {
      if (Date.now() > deadline) throw new Error('the presigned request never reached the server');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // SDK calls (signed in a header) go on being served meanwhile.
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'kit-bucket', Key: 'hold/obj.txt' }));
    expect(head.ContentLength).toBe(10);
    expect(settled).toBe(false);
    expect(await server.holdPresignedRequests(false)).toBe(1);
    expect(await pending).toBe('held bytes');
  });

  it('answers AbortMultipartUpload (which s3rver itself does not route)', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'kit-bucket', Key: 'mp/gone.bin' }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'kit-bucket', Key: 'mp/gone.bin', UploadId }));
    await expect(s3.send(new AbortMultipartUploadCommand({ Bucket: 'kit-bucket', Key: 'mp/gone.bin', UploadId }))).rejects.toMatchObject({
      name: 'NoSuchUpload',
    });
  });
});

describe('startS3Server lifecycle', () => {
  it('removes its temporary folder on close, and close is idempotent', async () => {
    const server = await startS3Server();
    expect(existsSync(server.directory)).toBe(true);
    await server.close();
    await server.close();
    expect(existsSync(server.directory)).toBe(false);
    expect(curlStatus([`${server.endpoint}/`])).toBe(0);
  });

  it('keeps a given folder, so data survives a restart; parallel servers are independent', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'kit-s3-dir-'));
    try {
      const first = await startS3Server({ directory, buckets: ['keep'] });
      const other = await startS3Server({ buckets: ['keep'] });
      expect(other.port).not.toBe(first.port);
      const s3 = clientFor(first);
      await s3.send(new PutObjectCommand({ Bucket: 'keep', Key: 'k.txt', Body: 'kept' }));
      s3.destroy();
      await first.close();
      expect(curlStatus([`${other.endpoint}/keep/k.txt`])).toBe(404);
      await other.close();
      const second = await startS3Server({ directory });
      expect(execFileSync('curl', ['-sS', '--fail', `${second.endpoint}/keep/k.txt`], { encoding: 'utf8' })).toBe('kept');
      await second.close();
      expect(existsSync(directory)).toBe(true);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('fails clearly when the port is taken', async () => {
    const first = await startS3Server();
    try {
      await expect(startS3Server({ port: first.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});

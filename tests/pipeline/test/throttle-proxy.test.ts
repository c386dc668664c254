/**
 * The throttling / fault proxy (src/throttle-proxy.ts) in front of the real embedded S3 server:
 * SigV4 requests signed for the proxy's host:port pass through unchanged (header-signed SDK calls and
 * presigned URLs), each client connection is capped both ways, faults cut or corrupt a response body,
 * and the counters see connections, requests, part numbers, upload ids and ranges.
 */
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import { getObject, putObject, testS3Client } from '../src/s3-helpers';
import { startThrottleProxy, type ThrottleProxy } from '../src/throttle-proxy';

jest.setTimeout(60_000);

const BUCKET = 'proxy-test';
const MiB = 1024 * 1024;
const CAP = 2 * MiB;

let s3: S3ServerHandle;
let open: ThrottleProxy;
let capped: ThrottleProxy;
let direct: ReturnType<typeof testS3Client>;
let viaProxy: ReturnType<typeof testS3Client>;
let storage: S3Storage;
let cappedStorage: S3Storage;

function storageFor(endpoint: string): S3Storage {
  return createS3Storage({
    region: s3.region,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    presignExpiresSeconds: 600,
  });
}

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
  open = await startThrottleProxy({ upstream: s3.endpoint, bytesPerSecond: 0 });
  capped = await startThrottleProxy({ upstream: s3.endpoint, bytesPerSecond: CAP });
  direct = testS3Client(s3);
  viaProxy = testS3Client({ ...s3, endpoint: open.endpoint });
  storage = storageFor(open.endpoint);
  cappedStorage = storageFor(capped.endpoint);
});

afterAll(async () => {
  direct?.destroy();
  viaProxy?.destroy();
  storage?.destroy();
  cappedStorage?.destroy();
  await open?.close();
  await capped?.close();
  await s3?.close();
});

beforeEach(() => {
  open.reset();
  open.faults.clear();
});

interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The response ended before its Content-Length (the connection was cut). */
  cut: boolean;
}

/** One request with node:http, reading whatever arrives, a cut connection included. */
function request(url: string, options: http.RequestOptions = {}, body?: Buffer): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      let cut = false;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('aborted', () => (cut = true));
      res.on('error', () => (cut = true));
      res.on('close', () => {
        const received = Buffer.concat(chunks);
        const expected = Number(res.headers['content-length'] ?? received.length);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: received, cut: cut || received.length < expected });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('SDK requests signed for the proxy host pass through unchanged and are counted', async () => {
  const body = randomBytes(300 * 1024);
  await putObject(viaProxy, BUCKET, 'sdk/one.bin', body);
  expect((await getObject(viaProxy, BUCKET, 'sdk/one.bin')).equals(body)).toBe(true);
  const head = await viaProxy.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'sdk/one.bin' }));
  expect(head.ContentLength).toBe(body.length);
  // A bucket-level call too (the embedded server's trailing-slash fix must still apply behind the proxy).
  const listed = await viaProxy.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'sdk/' }));
  expect(listed.Contents?.map((o) => o.Key)).toEqual(['sdk/one.bin']);

  const stats = open.stats();
  expect(stats.requests.map((r) => [r.method, r.status])).toEqual([
    ['PUT', 200],
    ['GET', 200],
    ['HEAD', 200],
    ['GET', 200],
  ]);
  expect(stats.requests[0]).toMatchObject({ path: `/${BUCKET}/sdk/one.bin`, bytesFromClient: body.length });
  expect(stats.bytesFromClient).toBe(body.length);
  expect(stats.bytesToClient).toBeGreaterThanOrEqual(body.length);
});

test('a presigned GET through the proxy returns the bytes, and a ranged one is logged with its Range', async () => {
  const body = randomBytes(MiB + 17);
  await putObject(direct, BUCKET, 'presigned/a b.bin', body);
  const url = await storage.presignGet(BUCKET, 'presigned/a b.bin');
  expect(new URL(url).host).toBe(new URL(open.endpoint).host);

  const whole = await request(url);
  expect(whole.status).toBe(200);
  expect(whole.body.equals(body)).toBe(true);

  const ranged = await request(url, { headers: { Range: 'bytes=1000-1999' } });
  expect(ranged.status).toBe(206);
  expect(ranged.body.equals(body.subarray(1000, 2000))).toBe(true);

  const [first, second] = open.stats().requests;
  expect(first).toMatchObject({ method: 'GET', path: `/${BUCKET}/presigned/a%20b.bin`, uploadId: false, bytesToClient: body.length });
  expect(first?.range).toBeUndefined();
  expect(second).toMatchObject({ range: 'bytes=1000-1999', bytesToClient: 1000 });
});

test('presigned multipart upload parts pass through with their part number and upload id logged', async () => {
  const key = 'multipart/out.bin';
  const parts = [randomBytes(MiB), randomBytes(1234)];
  const uploadId = await storage.createMultipartUpload(BUCKET, key);
  const etags: { partNumber: number; etag: string }[] = [];
  for (const [index, part] of parts.entries()) {
    const url = await storage.presignUploadPart(BUCKET, key, uploadId, index + 1);
    const res = await request(url, { method: 'PUT', headers: { 'content-length': part.length } }, part);
    expect(res.status).toBe(200);
    etags.push({ partNumber: index + 1, etag: String(res.headers.etag) });
  }
  await storage.completeMultipartUpload(BUCKET, key, uploadId, etags);
  expect((await getObject(direct, BUCKET, key)).equals(Buffer.concat(parts))).toBe(true);

  const uploads = open.stats().requests.filter((r) => r.partNumber !== undefined);
  expect(uploads.map((r) => [r.method, r.partNumber, r.uploadId, r.bytesFromClient])).toEqual([
    ['PUT', 1, true, MiB],
    ['PUT', 2, true, 1234],
  ]);
  expect(
    open
      .stats()
      .requests.filter((r) => r.method === 'POST')
      .map((r) => r.uploadId),
  ).toEqual([false, true]);
});

test('each client connection is capped at the configured rate, downloads and uploads', async () => {
  const body = randomBytes(4 * MiB);
  await putObject(direct, BUCKET, 'capped/4mib.bin', body);
  const url = await cappedStorage.presignGet(BUCKET, 'capped/4mib.bin');

  let started = performance.now();
  const got = await request(url);
  let seconds = (performance.now() - started) / 1000;
  expect(got.body.equals(body)).toBe(true);
  expect(got.body.length / seconds).toBeLessThanOrEqual(CAP * 1.2);

  const up = randomBytes(2 * MiB);
  const putUrl = await cappedStorage.presignPut(BUCKET, 'capped/up.bin');
  started = performance.now();
  const put = await request(putUrl, { method: 'PUT', headers: { 'content-length': up.length } }, up);
  seconds = (performance.now() - started) / 1000;
  expect(put.status).toBe(200);
  expect(up.length / seconds).toBeLessThanOrEqual(CAP * 1.2);
  expect((await getObject(direct, BUCKET, 'capped/up.bin')).equals(up)).toBe(true);
});

test('drop-after cuts the matching response after that many body bytes, once', async () => {
  const body = randomBytes(MiB);
  await putObject(direct, BUCKET, 'faults/drop.bin', body);
  const url = await storage.presignGet(BUCKET, 'faults/drop.bin');
  open.faults.add({ match: (req) => req.path.endsWith('/faults/drop.bin'), action: { kind: 'drop-after', bytes: 200_000 } });

  const cut = await request(url);
  expect(cut.status).toBe(200);
  expect(cut.cut).toBe(true);
  expect(cut.body.length).toBe(200_000);
  expect(cut.body.equals(body.subarray(0, 200_000))).toBe(true);

  // times defaults to 1: the retry goes through whole.
  const retried = await request(url);
  expect(retried.cut).toBe(false);
  expect(retried.body.equals(body)).toBe(true);

  expect(open.faults.pending()).toBe(0);
  const hits = open.faults.hits().filter((hit) => hit.action.kind === 'drop-after');
  expect(hits.map((hit) => hit.request.path)).toEqual([`/${BUCKET}/faults/drop.bin`]);
  expect(open.stats().requests.map((r) => r.fault)).toEqual(['drop-after', undefined]);
});

test('flip-byte changes exactly one byte of the matching response', async () => {
  const body = randomBytes(3 * MiB);
  await putObject(direct, BUCKET, 'faults/flip.bin', body);
  const url = await storage.presignGet(BUCKET, 'faults/flip.bin');
  const offset = 2 * MiB + 12_345;
  open.faults.add({ match: (req) => req.method === 'GET' && req.path.endsWith('/faults/flip.bin'), action: { kind: 'flip-byte', offset } });

  const got = await request(url);
  expect(got.cut).toBe(false);
  expect(got.body.length).toBe(body.length);
  const differing: number[] = [];
  for (let i = 0; i < body.length; i++) if (got.body[i] !== body[i]) differing.push(i);
  expect(differing).toEqual([offset]);
  expect(got.body[offset]).toBe(body[offset]! ^ 0xff);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  expect(sha((await request(url)).body)).toBe(sha(body));
});

test('client connections are counted: keep-alive reuses one, agent-less requests open one each', async () => {
  await putObject(direct, BUCKET, 'count/x.txt', 'x');
  const url = await storage.presignGet(BUCKET, 'count/x.txt');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 3; i++) expect((await request(url, { agent })).body.toString()).toBe('x');
    expect(open.stats()).toMatchObject({ connections: 1 });
    await Promise.all([request(url), request(url)]);
    const stats = open.stats();
    expect(stats.connections).toBe(3);
    expect(stats.requests).toHaveLength(5);
    expect(new Set(stats.requests.map((r) => r.connection)).size).toBe(3);
    expect(stats.peakConnections).toBeGreaterThanOrEqual(2);
    expect(stats.peakActiveConnections).toBeGreaterThanOrEqual(1);
    expect(stats.peakActiveConnections).toBeLessThanOrEqual(2);
  } finally {
    agent.destroy();
  }
});

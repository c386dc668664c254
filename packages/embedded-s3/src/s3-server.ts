/**
 * A real server speaking the S3 REST protocol: `@20minutes/s3rver` 5 serving a folder on loopback, in
 * its own Node process. `npm start` embeds it; tests use it through the AWS SDK (path-style) and
 * through plain `curl` with presigned URLs, exactly as the GPU host will.
 *
 * Why a child process: s3rver 5 encrypts ListObjectsV2 continuation tokens with single DES, which
 * OpenSSL 3 only offers in its legacy provider, so any truncated listing (pagination) answers 500
 * InternalError unless Node runs with `--openssl-legacy-provider`; that flag cannot be turned on
 * inside a running test process. A separate process also keeps the server answering while a test
 * blocks its own event loop (execFileSync of curl or bash), and it exits when the test process dies.
 *
 * Behaviour of s3rver 5 that tests must know about (read in its source, checked by the test kit's tests):
 * - Requests that carry NO credentials are accepted as anonymous (there are no bucket policies), so
 *   "an unsigned request is refused" cannot be tested here. Requests that DO carry a SigV4 signature
 *   (header or presigned query) are verified: a wrong signature or secret gives 403
 *   SignatureDoesNotMatch, an expired presigned URL 403 AccessDenied.
 * - Bucket-level requests from the AWS SDK v3 (ListObjectsV2, CreateBucket, HeadBucket) go to
 *   `/bucket/` and are signed over that path, but s3rver verifies them against `/bucket`, so all of
 *   them fail with 403 SignatureDoesNotMatch. The server process below marks such requests and puts
 *   the slash back into s3rver's canonical request; the signature comparison stays s3rver's own.
 * - Presigned PUT, presigned UploadPart (`curl -T`) and CompleteMultipartUpload work. Complete does
 *   not compare the ETags it is given with the stored parts (it only uses the part numbers), and the
 *   final ETag is the MD5 of the whole object, not AWS's `"<md5 of md5s>-N"`.
 * - Its XML responses escape text twice (`he.escape`, then the XML builder again), so a listed key
 *   containing & ' ` < > comes back to the SDK as `&amp;`, `&#x27;`, ... and a GET for that key then
 *   fails with 404. The server process makes `he.escape` a no-op, leaving the escaping to the XML
 *   builder, which does it once and correctly.
 * - AbortMultipartUpload (DELETE ?uploadId=) is not routed by s3rver (405 MethodNotAllowed). The
 *   server process answers it itself (removes the upload's parts: 204, or 404 NoSuchUpload), without
 *   checking that request's signature.
 * - CompleteMultipartUpload of an upload that is gone (completed or aborted) makes s3rver answer
 *   500 InternalError (it reads the removed parts folder); S3 answers 404 NoSuchUpload, which is
 *   what a retried completion must see. The server process answers that itself.
 * - The 5 MiB minimum part size is not enforced; continuation tokens only work in us-east-1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface S3ServerOptions {
  /** Loopback by default: 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Folder the objects are stored in; a fresh temporary folder (removed on close) by default. */
  directory?: string;
  /** Buckets that exist from the start. */
  buckets?: string[];
  /** Give up when the server has not answered that it listens within this time (default 20 s). */
  startTimeoutMs?: number;
}

export interface S3ServerHandle {
  /** `http://127.0.0.1:PORT`, for the SDK's `endpoint` (with `forcePathStyle: true`). */
  endpoint: string;
  port: number;
  region: 'us-east-1';
  /** s3rver's one hard-coded key pair. */
  accessKeyId: 'S3RVER';
  secretAccessKey: 'S3RVER';
  directory: string;
  /**
   * Test control: while on, requests signed in the query (presigned URLs, as the GPU host's curl
   * uses) get no answer, like an S3 that stalls; turning it off serves them. SDK calls are unaffected.
   * Resolves with how many requests were being held when called (released ones, when turning off).
   */
  holdPresignedRequests(hold: boolean): Promise<number>;
  /** Stops the server process and removes the folder if this call created it. Safe to call twice. */
  close(): Promise<void>;
}

interface ChildConfig {
  s3rverPath: string;
  v4Path: string;
  hePath: string;
  directory: string;
  host: string;
  port: number;
  buckets: string[];
}

type ChildMessage = { port: number } | { error: string };

/**
 * The server process. Plain JavaScript run with `node -e`, because the test kit may itself be
 * loaded from TypeScript sources (jest) and so has no JS file of its own to start.
 */
const CHILD_PROGRAM = String.raw`
'use strict';
const http = require('node:http');
const fs = require('node:fs/promises');
const path = require('node:path');
const cfg = JSON.parse(process.argv[process.argv.length - 1]);
// s3rver calls he.escape through the module object inside XML builders that escape again
// (see the file comment): escaping once, in the builder, gives correct XML.
require(cfg.hePath).escape = (text) => String(text);
const S3rver = require(cfg.s3rverPath);
const v4 = require(cfg.v4Path);
const MARK = 'x-inno-test-kit-bucket-slash';

// s3rver's authentication middleware calls v4.getStringToSign through the module object, so this
// is the one place to restore the trailing slash of bucket-level paths (see the file comment).
const originalStringToSign = v4.getStringToSign;
v4.getStringToSign = (request, signature) => {
  const marked = request.headers[MARK] === '1' && !request.uri.endsWith('/');
  return originalStringToSign(marked ? { ...request, uri: request.uri + '/' } : request, signature);
};

const s3rver = new S3rver({
  silent: true,
  directory: cfg.directory,
  vhostBuckets: false,
  configureBuckets: cfg.buckets.map((name) => ({ name })),
});
const handler = s3rver.callback();

function sendError(res, status, code) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code + '</Code><Message>' + code + '</Message></Error>';
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

async function abortUpload(req, res, url) {
  req.resume();
  const bucket = decodeURIComponent(url.pathname.split('/')[1] || '');
  const uploadId = url.searchParams.get('uploadId') || '';
  // The id becomes a path segment: accept only the hex ids s3rver generates.
  if (!bucket || !/^[A-Za-z0-9]{1,128}$/.test(uploadId)) return sendError(res, 400, 'InvalidArgument');
  const dir = path.join(s3rver.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  try {
    await fs.rm(dir, { recursive: true });
    res.writeHead(204).end();
  } catch {
    sendError(res, 404, 'NoSuchUpload');
  }
}

async function uploadExists(url) {
  const bucket = decodeURIComponent(url.pathname.split('/')[1] || '');
  const uploadId = url.searchParams.get('uploadId') || '';
  if (!bucket || !/^[A-Za-z0-9]{1,128}$/.test(uploadId)) return false;
  return fs.access(path.join(s3rver.store.getResourcePath(bucket, undefined, 'uploads'), uploadId)).then(() => true, () => false);
}

// Test control, from the parent process only (IPC): while holding, requests signed in the query
// (presigned URLs, i.e. the GPU host's curl) wait unanswered, as from an S3 that stalls; releasing
// serves them. Header-signed requests (the orchestrator's SDK calls) are never held.
let holding = false;
let held = [];
process.on('message', (message) => {
  if (!message || typeof message.hold !== 'boolean') return;
  holding = message.hold;
  const count = held.length;
  if (!holding) {
    const waiting = held;
    held = [];
    for (const [req, res] of waiting) route(req, res);
  }
  process.send({ held: count });
});

const server = http.createServer((req, res) => {
  if (holding && /[?&]X-Amz-Signature=/i.test(req.url || '')) {
    held.push([req, res]);
    return;
  }
  route(req, res);
});

function route(req, res) {
  delete req.headers[MARK];
  const url = new URL(req.url || '/', 'http://localhost');
  if (/^\/[^/]+\/$/.test(url.pathname)) req.headers[MARK] = '1';
  if (req.method === 'DELETE' && url.searchParams.has('uploadId')) {
    abortUpload(req, res, url).catch(() => sendError(res, 500, 'InternalError'));
    return;
  }
  if (req.method === 'POST' && url.searchParams.has('uploadId')) {
    uploadExists(url).then((exists) => {
      if (exists) return handler(req, res);
      req.resume();
      sendError(res, 404, 'NoSuchUpload');
    }, () => sendError(res, 500, 'InternalError'));
    return;
  }
  handler(req, res);
}

function fail(err) {
  process.send({ error: String((err && err.stack) || err) }, () => process.exit(1));
}
server.on('error', fail);
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
s3rver.configureBuckets().then(() => {
  server.listen(cfg.port, cfg.host, () => process.send({ port: server.address().port }));
}, fail);
`;

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3ServerHandle> {
  const host = options.host ?? '127.0.0.1';
  const ownsDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'inno-s3-')));
  await mkdir(directory, { recursive: true });
  const s3rverPath = require.resolve('@20minutes/s3rver');
  const config: ChildConfig = {
    s3rverPath,
    v4Path: require.resolve('@20minutes/s3rver/lib/signature/v4'),
    hePath: require.resolve('he', { paths: [dirname(s3rverPath)] }),
    directory,
    host,
    port: options.port ?? 0,
    buckets: options.buckets ?? [],
  };
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_PROGRAM, JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let port: number;
  try {
    port = await waitForPort(child, options.startTimeoutMs ?? 20_000);
  } catch (err) {
    await stopChild(child);
    if (ownsDirectory) await rm(directory, { recursive: true, force: true });
    throw err;
  }
  // A test that forgets close() must not keep its process alive; the server exits on disconnect.
  child.unref();
  child.channel?.unref();
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    directory,
    holdPresignedRequests: (hold: boolean) =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('S3 server did not answer the hold request')), 5000);
        child.once('message', (message: { held: number }) => {
          clearTimeout(timer);
          resolve(message.held);
        });
        child.send({ hold });
      }),
    close: () => {
      closing ??= (async () => {
        await stopChild(child);
        if (ownsDirectory) await rm(directory, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** Resolves with the port the server process reports, or rejects with why it did not start. */
function waitForPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`S3 server did not start within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: ChildMessage): void => {
      finish('port' in message ? message.port : new Error(`S3 server failed to start: ${message.error}`));
    };
    const onExit = (code: number | null, signal: string | null): void => {
      finish(new Error(`S3 server exited before listening (code ${code}, signal ${signal})`));
    };
    const onError = (err: Error): void => finish(err);
    function finish(result: number | Error): void {
      clearTimeout(timer);
      child.off('message', onMessage).off('exit', onExit).off('error', onError);
      if (typeof result === 'number') resolve(result);
      else reject(result);
    }
    child.on('message', onMessage).on('exit', onExit).on('error', onError);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

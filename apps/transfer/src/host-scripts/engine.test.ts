/**
 * The transfer engine's own behaviour (packages/host-protocol/scripts/transfer.py), run as the host
 * runs it against a real S3-protocol server: ranged downloads byte for byte, a resumed download that
 * fetches only the ranges not yet on disk, ETags that are not MD5s, and a resumed multipart upload
 * that sends only the parts its journal does not hold. Failures in flight (a dropped range, a flipped
 * byte, a stall) need a proxy between host and S3: tests/pipeline/test/transfer-faults.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  downloadPartSize,
  renderStageInScript,
  renderStageOutScript,
  stageInResultSchema,
  stageOutResultSchema,
  type StageInFile,
} from '@inno-train/host-protocol';
import {
  BUCKET,
  expectNoSecrets,
  getObject,
  MiB,
  newJobDir,
  putObject,
  readStatus,
  remember,
  runOnHost,
  runOnHostAsync,
  STATUS,
  useHostHarness,
} from '../../test/host-harness';

const harness = useHostHarness();
const KiB = 1024;
/** Small ranges, so a few MiB make many of them. */
const TUNING = { minRangeBytes: 64 * KiB, maxRangeBytes: 256 * KiB };

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

async function fileOf(key: string, relPath: string, body: Buffer, extra: Partial<StageInFile> = {}): Promise<StageInFile> {
  return { url: remember(await harness.storage().presignGet(BUCKET, key)), relPath, size: body.length, ...extra };
}

describe('the transfer engine: downloads', () => {
  const big = randomBytes(3 * MiB + 12_345);

  beforeAll(async () => {
    await putObject('engine/big.bin', big);
  });

  it('fetches an object whose size is not a multiple of the range as ranged GETs, byte for byte, checked against its MD5', async () => {
    // 3 MiB + 12,345 bytes in 256 KiB ranges: 12 whole ranges and a short 13th.
    expect(downloadPartSize(big.length, 2, TUNING)).toBe(256 * KiB);
    const jobDir = newJobDir();
    const files = [await fileOf('engine/big.bin', 'inputs/big.bin', big, { md5: md5(big), etag: `"${md5(big)}"` })];
    const run = runOnHost(renderStageInScript({ jobDir, files, connections: 2, statusFile: STATUS, ...TUNING }));
    const { raw, status } = readStatus(jobDir, stageInResultSchema);
    expect({ code: run.code, ok: status.ok, failed: status.failed }).toEqual({ code: 0, ok: true, failed: [] });
    expect(status).toMatchObject({ bytes: big.length, verified: 1, retries: 0 });
    expect(readFileSync(join(jobDir, 'inputs/big.bin')).equals(big)).toBe(true);
    // The partial file and its journal are gone once the file is in place.
    expect(existsSync(join(jobDir, '.inno/stage-in.partial'))).toBe(false);
    expectNoSecrets(run.log, raw);
  });

  it('resumes a ranged download: ranges its journal holds are not fetched again', async () => {
    const jobDir = newJobDir();
    const etag = `"${md5(big)}"`;
    // What a killed run left: the preallocated file with ranges 0 and 2 written and journalled. Range 2
    // holds a marker instead of the real bytes, so a range fetched again would show.
    const partial = join(jobDir, '.inno/stage-in.partial');
    mkdirSync(partial, { recursive: true });
    const tag = createHash('sha256').update(`inputs/big.bin\0${big.length}\0${etag}`).digest('hex').slice(0, 24);
    const left = Buffer.alloc(big.length);
    big.copy(left, 0, 0, 256 * KiB);
    const marker = Buffer.alloc(256 * KiB, 0x5a);
    marker.copy(left, 512 * KiB);
    writeFileSync(join(partial, `${tag}.data`), left);
    writeFileSync(join(partial, `${tag}.data.parts`), `0\n${512 * KiB}\n`);
    // No MD5 in this plan: the marker must survive, proving range 2 was not fetched.
    const files = [await fileOf('engine/big.bin', 'inputs/big.bin', big, { etag })];
    const run = runOnHost(renderStageInScript({ jobDir, files, connections: 3, statusFile: STATUS, ...TUNING }));
    expect(run.code).toBe(0);
    const got = readFileSync(join(jobDir, 'inputs/big.bin'));
    expect(got.subarray(512 * KiB, 768 * KiB).equals(marker)).toBe(true);
    expect(
      Buffer.concat([got.subarray(0, 512 * KiB), got.subarray(768 * KiB)]).equals(
        Buffer.concat([big.subarray(0, 512 * KiB), big.subarray(768 * KiB)]),
      ),
    ).toBe(true);
  });

  it('fetches a file again when it does not match its MD5, and fails it as a verification failure when it never does', async () => {
    const small = randomBytes(100 * KiB);
    await putObject('engine/wrong-md5.bin', small);
    const jobDir = newJobDir();
    // An MD5 the bytes never have: what a byte flipped on every download would look like.
    const files = [
      await fileOf('engine/wrong-md5.bin', 'inputs/wrong.bin', small, { md5: 'f'.repeat(32) }),
      await fileOf('engine/big.bin', 'inputs/big.bin', big, { md5: md5(big) }),
    ];
    const run = runOnHost(renderStageInScript({ jobDir, files, connections: 2, statusFile: STATUS, ...TUNING }));
    const { status } = readStatus(jobDir, stageInResultSchema);
    expect(run.code).toBe(1);
    expect(status.failed).toEqual([
      { path: 'inputs/wrong.bin', reason: 'md5 mismatch: the bytes differ from what S3 published', kind: 'verify' },
    ]);
    // Fetched twice (one retry), never moved into place; the good file is there and verified.
    expect(status).toMatchObject({ retries: 1, verified: 1 });
    expect(existsSync(join(jobDir, 'inputs/wrong.bin'))).toBe(false);
    expect(readFileSync(join(jobDir, 'inputs/big.bin')).equals(big)).toBe(true);
  });
});

describe('the transfer engine: a stalled response', () => {
  it('drops a response that sends nothing for stallSeconds and fetches it again', async () => {
    const body = randomBytes(256 * KiB);
    let served = 0;
    // The first answer sends its headers and half the body, then nothing; the second is whole.
    const server = createServer((_req, res) => {
      served += 1;
      res.writeHead(200, { 'content-length': body.length });
      if (served === 1) res.write(body.subarray(0, body.length / 2));
      else res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const jobDir = newJobDir();
      const files = [{ url: `http://127.0.0.1:${port}/stall.bin`, relPath: 'inputs/stall.bin', size: body.length, md5: md5(body) }];
      const run = await runOnHostAsync(renderStageInScript({ jobDir, files, connections: 1, statusFile: STATUS, stallSeconds: 1 }));
      const { status } = readStatus(jobDir, stageInResultSchema);
      expect({ code: run.code, failed: status.failed }).toEqual({ code: 0, failed: [] });
      expect(status).toMatchObject({ retries: 1, verified: 1 });
      expect(served).toBe(2);
      expect(readFileSync(join(jobDir, 'inputs/stall.bin')).equals(body)).toBe(true);
      expect(run.log).toContain('stalled: no byte for the stall timeout');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('the transfer engine: uploads', () => {
  it('resumes a multipart upload from its journal: only the parts it does not hold are sent', async () => {
    const storage = harness.storage();
    const jobDir = newJobDir();
    const body = randomBytes(3 * 5 * MiB + 777);
    mkdirSync(join(jobDir, 'output'), { recursive: true });
    writeFileSync(join(jobDir, 'output/model.bin'), body);
    const key = 'engine/uploaded/model.bin';
    const uploadId = await storage.createMultipartUpload(BUCKET, key);
    const partUrl = async (n: number) => ({ partNumber: n, url: remember(await storage.presignUploadPart(BUCKET, key, uploadId, n)) });
    const parts = await Promise.all([1, 2, 3, 4].map(partUrl));
    // First run, one connection: parts 1 and 2 go up and are journalled; part 3's URL points where
    // nothing listens (attempts: 1), so it fails, and part 4 of the failed file is not sent.
    const broken = parts.map((part) => (part.partNumber === 3 ? { partNumber: 3, url: 'http://127.0.0.1:9/nothing' } : part));
    const plan = (list: typeof parts) =>
      renderStageOutScript({
        jobDir,
        statusFile: STATUS,
        journalFile: '.inno/stage-out.journal',
        connections: 1,
        attempts: 1,
        uploads: [{ kind: 'multipart', relPath: 'output/model.bin', partSize: 5 * MiB, parts: list, uploadId, size: body.length }],
      });
    expect(runOnHost(plan(broken)).code).toBe(1);
    const first = readStatus(jobDir, stageOutResultSchema).status;
    expect(first.failed).toEqual([{ path: 'output/model.bin', reason: expect.stringMatching(/^part 3: /), kind: 'transfer' }]);
    const journal = readFileSync(join(jobDir, '.inno/stage-out.journal'), 'utf8').trim().split('\n');
    expect(journal.map((line) => (JSON.parse(line) as { n: number }).n)).toEqual([1, 2]);

    // Second run with the right URLs: the journal's parts of this upload are reused, the rest sent.
    const run = runOnHost(plan(parts));
    const { status, raw } = readStatus(jobDir, stageOutResultSchema);
    expect({ code: run.code, failed: status.failed }).toEqual({ code: 0, failed: [] });
    expect(status.reused).toBe(2);
    expect(status.parts['output/model.bin']?.map((part) => part.partNumber)).toEqual([1, 2, 3, 4]);
    await storage.completeMultipartUpload(BUCKET, key, uploadId, status.parts['output/model.bin'] ?? []);
    expect((await getObject(key)).equals(body)).toBe(true);
    expectNoSecrets(run.log, raw);
  });

  it('does not reuse journalled parts of a file changed since (same size, new modification time)', async () => {
    const storage = harness.storage();
    const jobDir = newJobDir();
    mkdirSync(join(jobDir, 'output'), { recursive: true });
    const file = join(jobDir, 'output/changed.bin');
    writeFileSync(file, randomBytes(5 * MiB + 1));
    const key = 'engine/uploaded/changed.bin';
    const uploadId = await storage.createMultipartUpload(BUCKET, key);
    const parts = await Promise.all(
      [1, 2].map(async (n) => ({ partNumber: n, url: remember(await storage.presignUploadPart(BUCKET, key, uploadId, n)) })),
    );
    const script = renderStageOutScript({
      jobDir,
      statusFile: STATUS,
      journalFile: '.inno/stage-out.journal',
      connections: 2,
      uploads: [{ kind: 'multipart', relPath: 'output/changed.bin', partSize: 5 * MiB, parts, uploadId }],
    });
    expect(runOnHost(script).code).toBe(0);
    // The same file run again: both parts come from the journal.
    expect(runOnHost(script).code).toBe(0);
    expect(readStatus(jobDir, stageOutResultSchema).status.reused).toBe(2);
    // Rewritten with other bytes of the same size: nothing is reused, both parts go up again.
    const changed = randomBytes(5 * MiB + 1);
    writeFileSync(file, changed);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(runOnHost(script).code).toBe(0);
    const { status } = readStatus(jobDir, stageOutResultSchema);
    expect(status.reused).toBe(0);
    await storage.completeMultipartUpload(BUCKET, key, uploadId, status.parts['output/changed.bin'] ?? []);
    expect((await getObject(key)).equals(changed)).toBe(true);
  });
});

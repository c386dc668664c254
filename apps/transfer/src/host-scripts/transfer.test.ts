/**
 * The rendered transfer scripts (@inno-train/host-protocol's scripts/transfer.sh carrying the engine,
 * transfer.py) run with the local bash and python3 against a real S3-protocol server, as they will on
 * the GPU host: presigned URLs from @inno-train/storage, bytes moved only by the engine. Each runs as
 * `bash file`, the way the task runner runs it; the result they write is read back with the
 * protocol's schemas. Ranges, resumes and checksums: engine.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseListOutputs,
  renderListOutputsCommand,
  renderStageInScript,
  renderStageOutScript,
  stageInResultSchema,
  stageOutResultSchema,
  type StageInFile,
  type StageOutUpload,
} from '@inno-train/host-protocol';
import {
  BUCKET,
  expectNoCanary,
  expectNoSecrets,
  getObject,
  MiB,
  newJobDir,
  putObject,
  readStatus,
  remember,
  runOnHost,
  STATUS,
  useHostHarness,
} from '../../test/host-harness';
/** File names a training script or a dataset could really contain. */
const HOSTILE = [
  'with space.txt',
  "single'quote.txt",
  'double"quote.txt',
  '$(touch canary).txt',
  '`touch canary`.txt',
  'semi;colon && touch canary',
  'new\nline.txt',
  'tab\there.txt',
  'ünïcødé 名前 🚀.txt',
  '-leading-dash.txt',
  '%s%n%q printf.txt',
  '*glob?[x].txt',
  'back\\slash.txt',
];

const harness = useHostHarness();

/** Stage-in plan for every object under `prefix`, as the transfer app builds it. */
async function planPrefix(prefix: string, base: string): Promise<StageInFile[]> {
  const input = await harness.storage().checkInput(`s3://${BUCKET}/${prefix}`);
  return Promise.all(
    input.objects.map(async (object) => ({
      url: remember(await harness.storage().presignGet(BUCKET, object.key)),
      relPath: `${base}/${object.key.slice(prefix.length)}`,
      size: object.size,
    })),
  );
}

describe('stage-in script', () => {
  const data = new Map<string, Buffer>();

  beforeAll(async () => {
    data.set('single/model-config.json', randomBytes(3 * MiB + 17));
    for (const [i, name] of ['a.jsonl', 'b.jsonl', 'nested/c.jsonl', 'nested/deeper/d.bin'].entries()) {
      data.set(`ds/train/${name}`, randomBytes(MiB + i * 1000));
    }
    data.set('ds/train/empty.txt', Buffer.alloc(0));
    for (const name of HOSTILE) data.set(`hostile/${name}`, Buffer.from(`content of ${name}`));
    for (const [key, body] of data) await putObject(key, body);
  });

  it('fetches an object and a prefix byte for byte, and a rerun skips what is there', async () => {
    const jobDir = newJobDir();
    const single = data.get('single/model-config.json')!;
    const files: StageInFile[] = [
      {
        url: remember(await harness.storage().presignGet(BUCKET, 'single/model-config.json')),
        relPath: 'inputs/config/model-config.json',
        size: single.length,
      },
      ...(await planPrefix('ds/train/', 'inputs/train')),
    ];
    const script = renderStageInScript({ jobDir, files, connections: 2, statusFile: STATUS });
    const first = runOnHost(script);
    const { raw, status } = readStatus(jobDir, stageInResultSchema);
    expect(first.code).toBe(0);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const { startedAt, finishedAt, ...counts } = status;
    expect(counts).toEqual({ ok: true, failed: [], bytes: total, skipped: 0, verified: 0, retries: 0 });
    expect(startedAt).toBeLessThanOrEqual(finishedAt!);
    expect(finishedAt).toBeLessThanOrEqual(Date.now());
    expect(readFileSync(join(jobDir, 'inputs/config/model-config.json')).equals(single)).toBe(true);
    for (const [key, body] of data) {
      if (key.startsWith('ds/train/')) expect(readFileSync(join(jobDir, 'inputs/train', key.slice(9))).equals(body)).toBe(true);
    }
    expect(readdirSync(join(jobDir, '.inno'))).toEqual(['status.json']);
    expectNoSecrets(first.log, raw);

    // A damaged file (wrong size) is fetched again; intact ones are skipped.
    truncateSync(join(jobDir, 'inputs/train/a.jsonl'), 10);
    const second = runOnHost(script);
    expect(second.code).toBe(0);
    expect(readStatus(jobDir, stageInResultSchema).status).toMatchObject({
      ok: true,
      failed: [],
      bytes: total,
      skipped: files.length - 1,
      verified: 0,
      retries: 0,
    });
    expect(readFileSync(join(jobDir, 'inputs/train/a.jsonl')).equals(data.get('ds/train/a.jsonl')!)).toBe(true);
  });

  it('reports a missing object and a size mismatch by path, never a signature, and still fetches the rest', async () => {
    const jobDir = newJobDir();
    const good = data.get('ds/train/b.jsonl')!;
    const files: StageInFile[] = [
      { url: remember(await harness.storage().presignGet(BUCKET, 'ds/train/b.jsonl')), relPath: 'inputs/ok/b.jsonl', size: good.length },
      { url: remember(await harness.storage().presignGet(BUCKET, 'does/not/exist.bin')), relPath: 'inputs/missing/exist.bin', size: 5 },
      { url: remember(await harness.storage().presignGet(BUCKET, 'ds/train/a.jsonl')), relPath: 'inputs/wrong/a.jsonl', size: 1 },
    ];
    const run = runOnHost(renderStageInScript({ jobDir, files, connections: 3, statusFile: STATUS }));
    const { raw, status } = readStatus(jobDir, stageInResultSchema);
    expect(run.code).toBe(1);
    expect(status.ok).toBe(false);
    expect(status.failed).toEqual(
      expect.arrayContaining([
        { path: 'inputs/missing/exist.bin', reason: 'HTTP 404', kind: 'transfer' },
        {
          path: 'inputs/wrong/a.jsonl',
          reason: `size mismatch: expected 1 bytes, S3 sent ${data.get('ds/train/a.jsonl')!.length}`,
          kind: 'verify',
        },
      ]),
    );
    expect(status.failed).toHaveLength(2);
    expect(existsSync(join(jobDir, 'inputs/missing/exist.bin'))).toBe(false);
    expect(existsSync(join(jobDir, 'inputs/wrong/a.jsonl'))).toBe(false);
    expect(readFileSync(join(jobDir, 'inputs/ok/b.jsonl')).equals(good)).toBe(true);
    expect(run.log).toContain('inputs/missing/exist.bin');
    expectNoSecrets(run.log, raw);
  });

  it('keeps hostile file names intact and never executes them', async () => {
    const jobDir = newJobDir();
    const files = await planPrefix('hostile/', 'inputs/hostile');
    expect(files).toHaveLength(HOSTILE.length);
    const run = runOnHost(renderStageInScript({ jobDir, files, connections: 4, statusFile: STATUS }));
    expect(run.code).toBe(0);
    expect(readStatus(jobDir, stageInResultSchema).status.ok).toBe(true);
    expect(readdirSync(join(jobDir, 'inputs/hostile')).sort()).toEqual([...HOSTILE].sort());
    for (const name of HOSTILE) expect(readFileSync(join(jobDir, 'inputs/hostile', name), 'utf8')).toBe(`content of ${name}`);
    expectNoCanary();
    expectNoSecrets(run.log);
  });
});

describe('stage-out script', () => {
  /** Lists output/ on the "host" and plans uploads as the transfer app does. */
  async function planOutputs(jobDir: string, prefix: string, partSize: number) {
    const listing = spawnSync('bash', ['-c', renderListOutputsCommand(join(jobDir, 'output'))]);
    const uploads: StageOutUpload[] = [];
    const multipart: { relPath: string; key: string; uploadId: string }[] = [];
    for (const file of parseListOutputs(listing.stdout)) {
      const key = `${prefix}${file.relPath}`;
      const relPath = `output/${file.relPath}`;
      if (file.size <= partSize) {
        uploads.push({ kind: 'put', relPath, url: remember(await harness.storage().presignPut(BUCKET, key)) });
        continue;
      }
      const uploadId = await harness.storage().createMultipartUpload(BUCKET, key);
      const count = Math.ceil(file.size / partSize);
      const parts = [];
      for (let n = 1; n <= count; n += 1)
        parts.push({ partNumber: n, url: remember(await harness.storage().presignUploadPart(BUCKET, key, uploadId, n)) });
      uploads.push({ kind: 'multipart', relPath, partSize, parts });
      multipart.push({ relPath, key, uploadId });
    }
    return { uploads, multipart };
  }

  it('uploads a small file by PUT and a 12 MB file in 5 MiB parts that complete byte for byte', async () => {
    const jobDir = newJobDir();
    const files = new Map<string, Buffer>([
      ['metrics.json', Buffer.from('{"loss": 0.1}\n')],
      ['empty.txt', Buffer.alloc(0)],
      ['checkpoints/model.bin', randomBytes(12 * 1000 * 1000)],
      ...HOSTILE.map((name): [string, Buffer] => [`weird/${name}`, Buffer.from(`out ${name}`)]),
    ]);
    for (const [name, body] of files) {
      mkdirSync(join(jobDir, 'output', name, '..'), { recursive: true });
      writeFileSync(join(jobDir, 'output', name), body);
    }
    const { uploads, multipart } = await planOutputs(jobDir, 'jobs/j1/', 5 * MiB);
    expect(multipart.map((m) => m.relPath)).toEqual(['output/checkpoints/model.bin']);

    const run = runOnHost(renderStageOutScript({ jobDir, statusFile: STATUS, connections: 3, uploads }));
    const { raw, status } = readStatus(jobDir, stageOutResultSchema);
    expect(run.code).toBe(0);
    expect(status.ok).toBe(true);
    expect(status.failed).toEqual([]);
    expect(status.bytes).toBe([...files.values()].reduce((sum, b) => sum + b.length, 0));
    const parts = status.parts['output/checkpoints/model.bin'];
    expect(parts?.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    parts?.forEach((p) => expect(p.etag).toMatch(/^"[0-9a-f]{32}"$/));
    expect(Object.keys(status.parts)).toEqual(['output/checkpoints/model.bin']);
    expectNoSecrets(run.log, raw);
    expectNoCanary();

    for (const upload of multipart)
      await harness.storage().completeMultipartUpload(BUCKET, upload.key, upload.uploadId, status.parts[upload.relPath] ?? []);
    for (const [name, body] of files) expect((await getObject(`jobs/j1/${name}`)).equals(body)).toBe(true);
    expect(readdirSync(join(jobDir, '.inno'))).toEqual(['status.json']);
  });

  it('reports a missing file, a file that changed size, and a symlink, without their parts', async () => {
    const jobDir = newJobDir();
    mkdirSync(join(jobDir, 'output'));
    writeFileSync(join(jobDir, 'output', 'shrunk.bin'), randomBytes(10));
    writeFileSync(join(jobDir, 'output', 'fine.txt'), 'fine');
    spawnSync('ln', ['-s', '/etc/hostname', join(jobDir, 'output', 'link')]);
    const uploadId = await harness.storage().createMultipartUpload(BUCKET, 'jobs/j2/shrunk.bin');
    const part = async (n: number) => ({
      partNumber: n,
      url: remember(await harness.storage().presignUploadPart(BUCKET, 'jobs/j2/shrunk.bin', uploadId, n)),
    });
    const uploads: StageOutUpload[] = [
      { kind: 'put', relPath: 'output/gone.txt', url: remember(await harness.storage().presignPut(BUCKET, 'jobs/j2/gone.txt')) },
      { kind: 'put', relPath: 'output/link', url: remember(await harness.storage().presignPut(BUCKET, 'jobs/j2/link')) },
      { kind: 'put', relPath: 'output/fine.txt', url: remember(await harness.storage().presignPut(BUCKET, 'jobs/j2/fine.txt')) },
      { kind: 'multipart', relPath: 'output/shrunk.bin', partSize: 5 * MiB, parts: [await part(1), await part(2)] },
    ];
    const run = runOnHost(renderStageOutScript({ jobDir, statusFile: STATUS, connections: 2, uploads }));
    const { raw, status } = readStatus(jobDir, stageOutResultSchema);
    expect(run.code).toBe(1);
    expect(status.ok).toBe(false);
    const byPath = Object.fromEntries(status.failed.map((f) => [f.path, f.reason]));
    expect(byPath['output/gone.txt']).toBe('not a regular file');
    expect(byPath['output/link']).toBe('not a regular file');
    expect(byPath['output/shrunk.bin']).toMatch(/^the file is now 10 bytes, which is not 2 parts of 5242880 bytes$/);
    expect(status.parts).toEqual({});
    expect(await getObject('jobs/j2/fine.txt')).toEqual(Buffer.from('fine'));
    expectNoSecrets(run.log, raw);
    await harness.storage().abortMultipartUpload(BUCKET, 'jobs/j2/shrunk.bin', uploadId);
  });
});

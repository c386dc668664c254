/**
 * The checkpoint stage-in restores on a new instance, on real parts: a real S3-protocol server
 * (listing, presigned GETs) and the real stage-in script (transfer.sh) run by bash in a folder that
 * plays the instance's home, downloading with curl as on the host.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointContentSignature, jobDir, renderStageInScript } from '@inno-train/host-protocol';
import { checkpointStep, type SyncedCheckpoint } from '@inno-train/schemas';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { startS3Server, type S3ServerHandle } from '@inno-train/test-kit';
import { planCheckpointRestore } from '../src/stage-in';

jest.setTimeout(60_000);

const BUCKET = 'tenant-out';
const OUTPUT = `s3://${BUCKET}/jobs/j1/output/`;
const JOB = 'j00restore000000000001';

let server: S3ServerHandle;
let storage: S3Storage;
let home: string;

beforeAll(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
  storage = createS3Storage({
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  home = mkdtempSync(join(tmpdir(), 'restore-home-'));
});

afterAll(async () => {
  storage?.destroy();
  await server?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

function synced(name: string, at: string, kind: 'dir' | 'file' = 'dir'): SyncedCheckpoint {
  return {
    name,
    step: checkpointStep(name),
    at,
    uri: `${OUTPUT}checkpoints/${name}${kind === 'dir' ? '/' : ''}`,
    bytes: 0,
    files: 0,
    signature: 'listing-on-the-old-host',
  };
}

const put = (relKey: string, body: string) => storage.putSmallObject(BUCKET, `jobs/j1/output/checkpoints/${relKey}`, body);

describe('the checkpoint a job restores on a new instance', () => {
  it('downloads the latest entry (highest step) with presigned GETs into CHECKPOINT_DIR/<name>, its paths quoted', async () => {
    // (The S3 test server refuses a listing prefix with quotes or parentheses: those are in a file name.)
    const hostile = 'step $HOME;`id` 7';
    const inner = "sub dir/$(touch canary) 'q'.bin";
    await put(`${hostile}/state.json`, '{"step": 7}');
    await put(`${hostile}/${inner}`, 'w'.repeat(300));
    await put('step 6/state.json', '{"step": 6}');
    const job = { checkpoints: [synced(hostile, '2026-01-01T00:00:09Z'), synced('step 6', '2026-01-01T00:00:10Z')] };

    const restore = await planCheckpointRestore(storage, job, 600);
    expect(restore).not.toBeNull();
    expect(restore!.resumedFrom).toEqual({
      name: hostile,
      step: 7,
      kind: 'dir',
      files: 2,
      bytes: 11 + 300,
      signature: checkpointContentSignature([
        { path: 'state.json', size: 11 },
        { path: inner, size: 300 },
      ]),
    });
    expect(restore!.files.map((file) => [file.relPath, file.size]).sort()).toEqual([
      [`checkpoints/${hostile}/state.json`, 11],
      [`checkpoints/${hostile}/${inner}`, 300],
    ]);
    // Presigned GETs, one per object: the host gets signed URLs, never a credential.
    for (const file of restore!.files) expect(file.url).toMatch(/X-Amz-Signature=.*x-id=GetObject/);

    const script = renderStageInScript({ jobDir: jobDir(JOB), files: restore!.files, connections: 4, statusFile: '.inno/stage-in.result' });
    mkdirSync(join(home, jobDir(JOB), '.inno'), { recursive: true });
    writeFileSync(join(home, 'stage-in.sh'), script);
    const run = spawnSync('bash', ['stage-in.sh'], { cwd: home, env: { PATH: process.env.PATH, HOME: home }, encoding: 'utf8' });
    expect(run.status).toBe(0);
    const dir = join(home, jobDir(JOB), 'checkpoints', hostile);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('{"step": 7}');
    expect(readFileSync(join(dir, inner), 'utf8')).toBe('w'.repeat(300));
    expect(() => readFileSync(join(home, 'canary'))).toThrow();
    expect(() => readFileSync(join(home, jobDir(JOB), 'canary'))).toThrow();
  });

  it('restores an entry that is a file as CHECKPOINT_DIR/<name>', async () => {
    await put('model-12.pt', 'model');
    await put('model-12.pt.bak', 'not this one');
    const restore = await planCheckpointRestore(storage, { checkpoints: [synced('model-12.pt', '2026-01-01T00:00:01Z', 'file')] }, 600);
    expect(restore!.files.map((file) => [file.relPath, file.size])).toEqual([['checkpoints/model-12.pt', 5]]);
    expect(restore!.resumedFrom).toMatchObject({ name: 'model-12.pt', step: null, kind: 'file', files: 1, bytes: 5 });
    expect(restore!.resumedFrom.signature).toBe(checkpointContentSignature([{ path: 'model-12.pt', size: 5 }]));
  });

  it('restores nothing when no checkpoint was synced (a first run), or when the latest is gone from S3', async () => {
    expect(await planCheckpointRestore(storage, { checkpoints: [] }, 600)).toBeNull();
    expect(await planCheckpointRestore(storage, { checkpoints: [synced('step-99', '2026-01-01T00:00:01Z')] }, 600)).toBeNull();
  });
});

describe('the checkpoint resumeFrom names in another job', () => {
  const source = (name: string) => ({ ...synced(name, '2026-01-01T00:00:05Z'), jobId: 'j0source00000000000000001' });

  it("restores the other job's checkpoint while the job has none of its own, then its own latest", async () => {
    await put('epoch-3/model.json', '{"epoch": 3}');
    await put('epoch-5/model.json', '{"epoch": 5, "own": true}');
    const first = await planCheckpointRestore(storage, { checkpoints: [], resumeSource: source('epoch-3') }, 600);
    expect(first).toMatchObject({ fromJob: 'j0source00000000000000001', resumedFrom: { name: 'epoch-3', step: 3, files: 1, bytes: 12 } });
    expect(first!.files.map((file) => file.relPath)).toEqual(['checkpoints/epoch-3/model.json']);

    // Restarted on a new host after syncing checkpoints of its own: those come first.
    const later = await planCheckpointRestore(
      storage,
      { checkpoints: [synced('epoch-5', '2026-01-01T00:00:09Z')], resumeSource: source('epoch-3') },
      600,
    );
    expect(later).toMatchObject({ fromJob: null, resumedFrom: { name: 'epoch-5', step: 5 } });
  });

  it('fails (rather than start from step 0) when the named checkpoint is gone from S3', async () => {
    await expect(planCheckpointRestore(storage, { checkpoints: [], resumeSource: source('epoch-404') }, 600)).rejects.toMatchObject({
      name: 'FileTransferError',
      code: 'checkpoint_not_found',
      message: expect.stringContaining('resumeFrom: checkpoint epoch-404 of job j0source00000000000000001 is no longer in S3'),
    });
  });
});

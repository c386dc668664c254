import { readFileSync } from 'node:fs';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BUCKET, getEvents, startStack, submitJob, testS3Client, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(180_000);

/**
 * Writes step-1 .. step-8 (one a second; the odd ones with a `.complete` marker, the even ones
 * without), keeps `partial-999` growing the whole run (never complete), then keeps running for
 * 15 s so the last entries can be seen stable and synced, and deletes step-1 (rotation) on the way.
 * Its last act is step-9 with the marker: only the sync after the command ended can catch that one.
 */
const CHECKPOINT_SCRIPT = String.raw`
import json, os, shutil, time
ck = os.environ['CHECKPOINT_DIR']
partial = os.path.join(ck, 'partial-999')
os.makedirs(partial, exist_ok=True)
def grow():
    with open(os.path.join(partial, 'growing.bin'), 'ab') as f:
        f.write(b'x' * 10)
for i in range(1, 9):
    d = os.path.join(ck, 'step-%d' % i)
    os.makedirs(os.path.join(d, 'sub'), exist_ok=True)
    with open(os.path.join(d, 'weights.bin'), 'wb') as f:
        f.write(bytes([i]) * (1000 * i))
    with open(os.path.join(d, 'sub', 'meta.json'), 'w') as f:
        json.dump({'step': i}, f)
    if i % 2 == 1:
        open(os.path.join(d, '.complete'), 'w').close()
    print(json.dumps({'step': i, 'total_steps': 8}), flush=True)
    for _ in range(4):
        grow()
        time.sleep(0.25)
for k in range(60):
    grow()
    time.sleep(0.25)
    if k == 32:
        shutil.rmtree(os.path.join(ck, 'step-1'))
print('done', sorted(os.listdir(ck)), flush=True)
d = os.path.join(ck, 'step-9', 'sub')
os.makedirs(d)
open(os.path.join(ck, 'step-9', 'weights.bin'), 'wb').write(bytes([9]) * 9000)
json.dump({'step': 9}, open(os.path.join(d, 'meta.json'), 'w'))
open(os.path.join(ck, 'step-9', '.complete'), 'w').close()
`;

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 10,
    ipPrefix: '127.0.11.',
    // Short step locks: a monitor killed in the second test gets its step back in seconds.
    extraEnv: { STEP_LOCK_MS: '3000', STEP_STALLED_CHECK_MS: '1000' },
  });
  s3 = testS3Client(stack.s3);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

async function listKeys(prefix: string): Promise<Map<string, number>> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return new Map((out.Contents ?? []).map((object) => [object.Key!, object.Size!]));
}

const STEPS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
/** What the script's `json.dump({'step': i}, f)` writes. */
const metaBytes = (i: number) => JSON.stringify({ step: i }).replace(':', ': ').length;

async function submitCheckpointJob(): Promise<string> {
  return submitJob(stack, {
    instance: { type: 'gpu_1x_a10' },
    script: { inline: CHECKPOINT_SCRIPT, filename: 'train.py' },
    checkpoint: { syncSeconds: 5 },
  });
}

/** The job succeeded with step-1 .. step-9 listed and in S3 byte counts exactly, and nothing else. */
async function expectNineCheckpoints(id: string) {
  const done = await waitForJobEnd(stack, id);
  expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });

  const outputUri = `s3://${BUCKET}/jobs/${id}/output/`;
  const listed = (await stack.api(`/v1/jobs/${id}/checkpoints`)).json as {
    data: { name: string; step?: number; at: string; uri: string; bytes: number; files: number }[];
  };
  expect(listed.data.map((checkpoint) => checkpoint.name).sort()).toEqual(STEPS.map((i) => `step-${i}`));
  for (const checkpoint of listed.data) {
    const i = checkpoint.step!;
    expect(checkpoint).toMatchObject({
      name: `step-${i}`,
      uri: `${outputUri}checkpoints/step-${i}/`,
      files: 2,
      bytes: 1000 * i + metaBytes(i),
    });
    expect(Number.isNaN(Date.parse(checkpoint.at))).toBe(false);
  }

  // S3 holds exactly the synced files: no marker, nothing of the partial entry, and step-1 although
  // the script deleted it on the host.
  const stored = await listKeys(`jobs/${id}/output/checkpoints/`);
  const expected = new Map<string, number>();
  for (const i of STEPS) {
    expected.set(`jobs/${id}/output/checkpoints/step-${i}/weights.bin`, 1000 * i);
    expected.set(`jobs/${id}/output/checkpoints/step-${i}/sub/meta.json`, metaBytes(i));
  }
  expect(Object.fromEntries(stored)).toEqual(Object.fromEntries(expected));

  // The job view counts them; the log shows step-1 was gone from the host when the command ended.
  expect(done.checkpoints).toMatchObject({ count: 9, latest: { name: 'step-9', step: 9 } });
  expect((await stack.api(`/v1/jobs/${id}/logs`)).text).toContain("done ['partial-999', 'step-2'");
  const events = await getEvents(stack, id);
  expect(events.some((event) => event.type === 'transfer' && /Checkpoint "step-1" synced/.test(event.message))).toBe(true);
  expect(events.some((event) => /The command ended; syncing the last checkpoints "step-9" \(marker\)/.test(event.message))).toBe(true);
  return events;
}

describe('checkpoints', () => {
  it('syncs complete checkpoint entries to S3 while training runs and after it, never a partial one, and keeps rotated ones', async () => {
    await expectNineCheckpoints(await submitCheckpointJob());
  });

  it('survives the syncing monitor killed (-9) after saving a sync plan, and again with the upload running on the host', async () => {
    const index = stack.apps.findIndex((app) => app.app === 'monitor');
    const beforeUpload = await stack.killAndRestart(index, { INNO_CRASH_POINTS: 'train:after-checkpoint-plan' });
    let midSync: Awaited<ReturnType<typeof stack.killAndRestart>> | undefined;
    const replaced = beforeUpload.exited
      .then(async () => {
        midSync = await stack.killAndRestart(index, { INNO_CRASH_POINTS: 'train:after-checkpoint-upload-started' });
        return midSync.exited;
      })
      .then(() => stack.killAndRestart(index));
    const id = await submitCheckpointJob();
    await replaced;
    expect(readFileSync(beforeUpload.logFile, 'utf8')).toContain('{"crashPoint":"train:after-checkpoint-plan"');
    expect(readFileSync(midSync!.logFile, 'utf8')).toContain('{"crashPoint":"train:after-checkpoint-upload-started"');
    const events = await expectNineCheckpoints(id);
    // Each entry recorded once, in full: no upload was settled twice or into a half state.
    for (const i of STEPS) {
      expect(events.filter((event) => event.message.startsWith(`Checkpoint "step-${i}" synced`))).toHaveLength(1);
    }
  });
});

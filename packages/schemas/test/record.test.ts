import { checkpointStep, checkpointToResume, instancesOf, isInstanceGone, parseJobRecord, type InstanceInfo } from '../src';

const now = '2026-01-01T00:00:00.000Z';
const stored = {
  id: 'j1234567890',
  name: null,
  status: 'training',
  createdAt: now,
  updatedAt: now,
  startedAt: now,
  finishedAt: null,
  spec: {
    instance: { type: 'gpu_1x_a10' },
    inputs: {},
    script: { inline: 'print(1)', filename: 'train.py' },
    command: 'python3 train.py',
    outputUri: 's3://b/o/',
  },
  instance: null,
  progress: null,
  outputs: [],
  error: null,
  pendingError: null,
  cancelRequested: false,
  createdBy: null,
  training: { startedAt: null, exitCode: null },
  metadata: {},
};
const instance = (id: string): InstanceInfo => ({
  id,
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: null,
  status: 'active',
  launchedAt: now,
  terminatedAt: null,
  priceCentsPerHour: 75,
});

describe('a stored job record', () => {
  it('is parsed with defaults for the fields older records lack', () => {
    const job = parseJobRecord(JSON.stringify(stored));
    expect(job.retiredInstances).toEqual([]);
    expect(job.hostRestarts).toBe(0);
    expect(job.checkpoints).toEqual([]);
    expect(job.checkpointSync).toBeNull();
  });

  it('keeps its synced checkpoints and the sync state, and refuses a malformed checkpoint', () => {
    const checkpoint = { name: 'step-5', step: 5, at: now, uri: 's3://b/o/checkpoints/step-5/', bytes: 10, files: 2, signature: 'abc' };
    const checkpointSync = { nextRoundAt: 1, listedAt: 2, seen: { 'step-5': 'abc' }, pending: null };
    const job = parseJobRecord(JSON.stringify({ ...stored, checkpoints: [checkpoint], checkpointSync }));
    expect(job.checkpoints).toEqual([checkpoint]);
    expect(job.checkpointSync).toEqual({ ...checkpointSync, retryAt: 0 });
    expect(() => parseJobRecord(JSON.stringify({ ...stored, checkpoints: [{ ...checkpoint, bytes: -1 }] }))).toThrow(
      /at checkpoints\.0\.bytes/,
    );
  });

  it('has no restored checkpoint unless stage-in recorded one', () => {
    expect(parseJobRecord(JSON.stringify(stored)).resumedFrom).toBeNull();
    const resumedFrom = { name: 'step-5', step: 5, kind: 'dir', files: 2, bytes: 10, signature: 'abc' };
    expect(parseJobRecord(JSON.stringify({ ...stored, resumedFrom })).resumedFrom).toEqual(resumedFrom);
  });

  it('keeps the last transfer figures, has none on older records, and reads malformed ones as none', () => {
    expect(parseJobRecord(JSON.stringify(stored)).transfer).toBeNull();
    const transfer = {
      stage: 'staging_in',
      bytesDone: 10,
      bytesTotal: 20,
      bytesPerSecond: 2.5,
      filesDone: 1,
      files: 2,
      updatedAt: now,
    };
    expect(parseJobRecord(JSON.stringify({ ...stored, transfer })).transfer).toEqual(transfer);
    for (const bad of [{ ...transfer, bytesDone: -1 }, { ...transfer, bytesPerSecond: null }, { ...transfer, stage: 'training' }, 'x'])
      expect(parseJobRecord(JSON.stringify({ ...stored, transfer: bad })).transfer).toBeNull();
  });

  it("keeps fields it does not know, so a newer writer's fields survive an older reader", () => {
    expect(parseJobRecord(JSON.stringify({ ...stored, webhookIds: ['w1'] }))).toMatchObject({ webhookIds: ['w1'] });
  });

  it.each([
    ['an unknown status', { status: 'paused' }, /at status/],
    ['an error code outside the closed set', { error: { code: 'ssh_auth_failed', message: 'x', stage: 'training' } }, /at error\.code/],
    ['a missing spec', { spec: undefined }, /at spec/],
  ])('is refused with the place of the problem when it has %s', (_name, patch, message) => {
    expect(() => parseJobRecord(JSON.stringify({ ...stored, ...patch }))).toThrow(message);
  });
});

describe('the instances of a job', () => {
  it('are the retired ones, then the current one', () => {
    expect(instancesOf({ retiredInstances: [instance('a'), instance('b')], instance: instance('c') }).map((i) => i.id)).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(instancesOf({ retiredInstances: [], instance: null })).toEqual([]);
  });

  it.each([
    ['terminated', true],
    ['terminating', true],
    ['preempted', true],
    ['active', false],
    ['unhealthy', false],
    ['booting', false],
  ])('%s is gone: %s', (status, gone) => {
    expect(isInstanceGone(status)).toBe(gone);
  });
});

describe('the checkpoint a restarted job resumes from', () => {
  const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
  const checkpoint = (name: string, second: number) => ({
    name,
    step: checkpointStep(name),
    at: at(second),
    uri: `s3://b/o/checkpoints/${name}/`,
    bytes: 1,
    files: 1,
    signature: 's',
  });

  it('is the highest step, whatever order they were verified in; else the one verified last; none when none', () => {
    expect(checkpointToResume([checkpoint('step-9', 1), checkpoint('step-10', 2), checkpoint('step-8', 3)])?.name).toBe('step-10');
    expect(checkpointToResume([checkpoint('latest', 1), checkpoint('best', 2), checkpoint('ema', 0)])?.name).toBe('best');
    expect(checkpointToResume([checkpoint('best', 5), checkpoint('step-2', 1)])?.name).toBe('step-2');
    expect(checkpointToResume([])).toBeNull();
  });
});

import { checkpointStep, createJobRecord, publicJobSchema, settledAt, toPublicJob, type InstanceInfo, type JobRecord } from '../src';

const spec = {
  instance: { type: 'gpu_1x_a10' },
  inputs: {},
  script: { inline: 'print(1)', filename: 'train.py' },
  command: 'python3 train.py',
  outputUri: 's3://b/o/',
};
const T0 = '2026-03-01T10:00:00.000Z';
const T1 = '2026-03-01T10:05:00.000Z';
const T2 = '2026-03-01T10:06:00.000Z';

const instance = (terminatedAt: string | null): InstanceInfo => ({
  id: 'i-1',
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: '10.0.0.1',
  status: terminatedAt ? 'terminated' : 'active',
  launchedAt: T0,
  terminatedAt,
  priceCentsPerHour: 75,
  hostKeyFingerprint: 'SHA256:secret-ish',
  bootDeadlineAt: T1,
  terminateRequestedAt: T1,
});

const job = (patch: Partial<JobRecord>) => createJobRecord({ id: `j${'0'.repeat(22)}`, spec, createdBy: 'team-a', now: T0 }, patch);

describe('the public job view', () => {
  it('matches its declared schema and leaves internal bookkeeping out', () => {
    const view = toPublicJob(
      job({ status: 'training', instance: instance(null), retiredInstances: [{ ...instance(T1), retiredReason: 'unhealthy' }] }),
    );
    expect(publicJobSchema.parse(view)).toEqual(view);
    const text = JSON.stringify(view);
    for (const internal of ['hostKeyFingerprint', 'bootDeadlineAt', 'terminateRequestedAt', 'retiredReason'])
      expect(text).not.toContain(internal);
    expect(view).toMatchObject({
      createdBy: 'team-a',
      training: { startedAt: null, exitCode: null },
      settledAt: null,
      cost: { final: false },
    });
  });

  it.each<[string, Partial<JobRecord>, string | null]>([
    ['running', { status: 'training', instance: instance(null) }, null],
    ['ended, instance not yet terminated', { status: 'failed', finishedAt: T1, instance: instance(null) }, null],
    ['ended, teardown not yet done (settledAt null)', { status: 'failed', finishedAt: T1, instance: instance(T2), settledAt: null }, null],
    ['ended and settled by teardown', { status: 'failed', finishedAt: T1, instance: instance(T2), settledAt: T2 }, T2],
    ['settled, then a late instance was recorded', { status: 'cancelled', finishedAt: T1, instance: instance(null), settledAt: T1 }, null],
    ['an older record without settledAt: by its instances', { status: 'succeeded', finishedAt: T1, instance: instance(T2) }, T2],
  ])('settledAt: %s', (_name, patch, expected) => {
    const record = job(patch);
    expect(settledAt(record)).toBe(expected);
    expect(toPublicJob(record).cost.final).toBe(expected !== null);
  });
});

describe('transfer progress in the public view', () => {
  it('is null until a transfer reports, then the figures as the stage recorded them', () => {
    expect(toPublicJob(job({ status: 'staging_in' })).transfer).toBeNull();
    const transfer = {
      stage: 'staging_out' as const,
      bytesDone: 1024,
      bytesTotal: 4096,
      bytesPerSecond: 512.5,
      filesDone: 1,
      files: 3,
      updatedAt: T1,
    };
    const view = toPublicJob(job({ status: 'staging_out', transfer }));
    expect(view.transfer).toEqual(transfer);
    expect(publicJobSchema.parse(view)).toEqual(view);
  });
});

describe('checkpoints in the public view', () => {
  it('counts them and names the most recently synced one, with the step read from the name', () => {
    const job = createJobRecord({
      id: 'j0000000000000000000001',
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: 'x', filename: 'train.py' },
        command: 'x',
        outputUri: 's3://b/o/',
      },
    });
    expect(toPublicJob(job).checkpoints).toEqual({ count: 0, latest: null, resumeFrom: null, restored: null });
    expect(toPublicJob(job).restarts).toEqual({ hostLost: 0, preempted: 0 });
    const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
    const entry = (name: string, s: number) => ({
      name,
      step: checkpointStep(name),
      at: at(s),
      uri: `s3://b/o/checkpoints/${name}/`,
      bytes: 1,
      files: 1,
      signature: '',
    });
    job.checkpoints = [entry('step-500', 1), entry('final', 3), entry('step-1000', 2)];
    const view = toPublicJob(job);
    expect(view.checkpoints).toEqual({ count: 3, latest: { name: 'final', step: null, at: at(3) }, resumeFrom: null, restored: null });
    job.resumeSource = { ...entry('step-7', 1), jobId: 'j0other0000000000000000' };
    job.resumedFrom = { name: 'step-1000', step: 1000, kind: 'dir', files: 1, bytes: 1, signature: 'x' };
    expect(toPublicJob(job).checkpoints).toMatchObject({
      resumeFrom: { jobId: 'j0other0000000000000000', name: 'step-7', step: 7 },
      restored: { name: 'step-1000', step: 1000 },
    });
    expect(publicJobSchema.parse(view)).toEqual(view);
    expect([checkpointStep('step-500'), checkpointStep('epoch3.pt'), checkpointStep('ckpt_0042')]).toEqual([500, null, 42]);
  });
});

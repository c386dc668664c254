import { openRedisNamespace, waitFor } from '@inno-train/test-kit';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import { createJobStore, newJobId, type StatusChange } from '../src';

function record(id: string): JobRecord {
  return createJobRecord({
    id,
    spec: {
      instance: { type: 'gpu_1x_a10' },
      inputs: {},
      script: { inline: 'print(1)', filename: 'train.py' },
      command: 'python3 train.py',
      outputUri: 's3://b/o/',
    },
  });
}

const status = (to: string) => [{ type: 'status' as const, stage: 'provisioning' as const, message: `to ${to}`, data: { status: to } }];

describe('status changes reported by the store (for inno_job_stage_seconds)', () => {
  const space = openRedisNamespace('status-change');
  const changes: StatusChange[] = [];
  const store = createJobStore({ redis: space.redis, namespace: space.namespace, onStatusChange: (change) => changes.push(change) });

  afterAll(async () => {
    await space.close();
  });

  it('reports each committed change once, with the time spent in the status it left, read from the events', async () => {
    const id = newJobId();
    const submitted = new Date(Date.now() - 12_000).toISOString();
    await store.create(record(id), { at: submitted, type: 'status', stage: 'submit', message: 'Job submitted' });
    // Events that are not status changes sit between the two and must not count as the entry.
    await store.appendEvent(id, { type: 'retry', stage: 'provisioning', message: 'noise', at: new Date(Date.now() - 3_000).toISOString() });
    await store.update(id, (job) => ({ ...job, status: 'provisioning' }), status('provisioning'));
    const first = await waitFor(() => changes.find((c) => c.jobId === id), { timeoutMs: 5_000, description: 'the first change' });
    expect(first).toMatchObject({ from: 'queued', to: 'provisioning' });
    expect(first.seconds).toBeGreaterThanOrEqual(11.9);
    expect(first.seconds).toBeLessThan(20);

    await store.update(id, (job) => ({ ...job, status: 'staging_in' }), status('staging_in'));
    const second = await waitFor(() => changes.find((c) => c.jobId === id && c.to === 'staging_in'), {
      timeoutMs: 5_000,
      description: 'the second change',
    });
    expect(second.from).toBe('provisioning');
    expect(second.seconds).toBeGreaterThanOrEqual(0);
    expect(second.seconds).toBeLessThan(5);
  });

  it('reports nothing for an update that keeps the status, nor for a refused one', async () => {
    const id = newJobId();
    await store.create(record(id), { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'Job submitted' });
    await store.update(id, (job) => ({ ...job, metadata: { a: 'b' } }));
    await store.update(id, () => null, status('provisioning'));
    // A change made afterwards is reported: once it is there, nothing earlier can still come.
    await store.update(id, (job) => ({ ...job, status: 'cancelled' }), status('cancelled'));
    await waitFor(() => changes.some((c) => c.jobId === id && c.to === 'cancelled'), { timeoutMs: 5_000, description: 'the cancel' });
    expect(changes.filter((c) => c.jobId === id).map((c) => `${c.from}->${c.to}`)).toEqual(['queued->cancelled']);
  });
});

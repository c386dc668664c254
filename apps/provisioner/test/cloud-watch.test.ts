import { isoNow } from '@inno-train/core';
import type { InstanceInfo } from '@inno-train/schemas';
import { downStatus, INSTANCE_TYPES_MAX_AGE_MS, INSTANCE_TYPES_REFRESH_MS, watchCloudOnce } from '../src';
import { createJob, logger, openHarness, resetFakes, type Harness } from './harness';

let h: Harness;
beforeAll(() => {
  h = openHarness('cloud-watch');
});
beforeEach(() => resetFakes(h));
afterAll(async () => {
  await h.close();
});

const recorded = (id: string, status = 'active'): InstanceInfo => ({
  id,
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: '10.0.0.9',
  status,
  launchedAt: isoNow(),
  terminatedAt: null,
  priceCentsPerHour: 75,
});
const listed = (...entries: [string, string][]) => new Map(entries.map(([id, status]) => [id, { id, status }]));

describe("what the cloud says about a running job's instance (pure)", () => {
  it.each([
    ['unhealthy', 'unhealthy'],
    ['terminating', 'terminating'],
    ['terminated', 'terminated'],
    ['preempted', 'preempted'],
  ])('records %s', (status, expected) => {
    expect(downStatus(recorded('i-1'), listed(['i-1', status]))).toBe(expected);
  });

  it('calls an instance that is no longer listed terminated', () => {
    expect(downStatus(recorded('i-1'), listed(['i-other', 'active']))).toBe('terminated');
  });

  it('reads nothing into an instance missing from a shared listing taken before its launch', () => {
    const instance = recorded('i-1');
    const launched = Date.parse(instance.launchedAt);
    expect(downStatus(instance, listed(['i-other', 'active']), launched - 1)).toBeNull();
    expect(downStatus(instance, listed(['i-other', 'active']), launched + 1)).toBe('terminated');
    expect(downStatus(instance, listed(['i-1', 'preempted']), launched - 1)).toBe('preempted');
  });

  it.each(['active', 'booting'])('has nothing to record for %s', (status) => {
    expect(downStatus(recorded('i-1'), listed(['i-1', status]))).toBeNull();
  });

  it('has nothing new to record twice, nor for an instance already confirmed terminated', () => {
    expect(downStatus(recorded('i-1', 'unhealthy'), listed(['i-1', 'unhealthy']))).toBeNull();
    expect(downStatus({ ...recorded('i-1'), terminatedAt: isoNow() }, listed())).toBeNull();
  });
});

describe('the cloud watch', () => {
  it("records an instance the cloud reports down on its job, once, with an event, and wakes the job's parked stage", async () => {
    const job = await createJob(h.deps.store);
    await h.deps.store.update(job.id, (j) => ({ ...j, status: 'training', instance: recorded('i-sick') }));
    await h.queues.train.add('train', { jobId: job.id, step: {} }, { jobId: `${job.id}.train.0`, delay: 3_600_000 });
    h.deps.lambda.listed = [{ id: 'i-sick', status: 'unhealthy', tags: [] }];
    const deps = { store: h.deps.store, queues: h.queues, cloud: h.deps.cloud, maxAgeMs: 0, logger };
    const report = await watchCloudOnce(deps);
    expect(report.down).toEqual([{ jobId: job.id, instanceId: 'i-sick', status: 'unhealthy' }]);
    expect((await h.deps.store.mustGet(job.id)).instance?.status).toBe('unhealthy');
    expect(await (await h.queues.train.getJob(`${job.id}.train.0`))!.isDelayed()).toBe(false);
    expect((await watchCloudOnce(deps)).down).toEqual([]);
    expect((await h.deps.store.events(job.id)).filter((e) => e.message.includes('is unhealthy according to the cloud'))).toHaveLength(1);
  });

  it('leaves jobs whose instance the cloud reports active, and jobs not on a host, alone', async () => {
    const fine = await createJob(h.deps.store);
    await h.deps.store.update(fine.id, (j) => ({ ...j, status: 'staging_out', instance: recorded('i-fine') }));
    const booting = await createJob(h.deps.store);
    await h.deps.store.update(booting.id, (j) => ({ ...j, status: 'provisioning', instance: recorded('i-gone') }));
    h.deps.lambda.listed = [{ id: 'i-fine', status: 'active', tags: [] }];
    const cloud = { list: jest.fn((notBefore: number) => h.deps.cloud.list(notBefore)) };
    const report = await watchCloudOnce({ store: h.deps.store, queues: h.queues, cloud, maxAgeMs: 0, logger });
    expect(report.down.filter((d) => d.jobId === fine.id || d.jobId === booting.id)).toEqual([]);
    expect((await h.deps.store.mustGet(fine.id)).instance?.status).toBe('active');
    // One list call covers every job, however many there are.
    expect(cloud.list).toHaveBeenCalledTimes(1);
  });

  it('keeps the shared instance-types answer recent for launches, and a failure there fails no watch', async () => {
    const asked: number[] = [];
    const cloud = {
      list: (notBefore: number) => h.deps.cloud.list(notBefore),
      instanceTypes: jest.fn(async (notBefore: number) => {
        asked.push(notBefore);
        if (asked.length > 1) throw new Error('Lambda answered 503');
        return {};
      }),
    };
    const before = Date.now();
    await watchCloudOnce({ store: h.deps.store, queues: h.queues, cloud, maxAgeMs: 0, logger });
    expect(asked).toHaveLength(1);
    // An answer no older than the refresh age: launches, which take one up to INSTANCE_TYPES_MAX_AGE_MS old, find it.
    expect(asked[0]).toBeGreaterThanOrEqual(before - INSTANCE_TYPES_REFRESH_MS);
    expect(INSTANCE_TYPES_REFRESH_MS).toBeLessThan(INSTANCE_TYPES_MAX_AGE_MS);
    await expect(watchCloudOnce({ store: h.deps.store, queues: h.queues, cloud, maxAgeMs: 0, logger })).resolves.toMatchObject({
      down: [],
    });
    expect(asked).toHaveLength(2);
  });
});

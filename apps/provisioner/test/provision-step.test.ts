import { isoNow } from '@inno-train/core';
import { provisionStep } from '../src';
import { createJob, logger, openHarness, payloadOf, pendingFor, resetFakes, type Harness } from './harness';

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;
const INSUFFICIENT_CAPACITY = { code: 'instance-operations/launch/insufficient-capacity', message: 'Not enough capacity' };
const BOOT_DEADLINE_MS = 5 * 60_000;

let h: Harness;

beforeAll(() => {
  h = openHarness('provision', { bootDeadlineMs: BOOT_DEADLINE_MS, bootPollMs: 1234 });
});

beforeEach(() => {
  resetFakes(h);
});

afterAll(async () => {
  await h.close();
});

const step = (jobId: string, s: Record<string, number | string | boolean> = {}) => provisionStep(h.deps, payloadOf(jobId, s), logger);
const store = () => h.deps.store;

function capacityIn(...regions: string[]) {
  h.deps.lambda.types.gpu_1x_a10!.regions_with_capacity_available = regions.map((name) => ({ name }));
}

/** A job that has been launched and whose instance is recorded as booting. */
async function launchedJob() {
  const job = await createJob(store());
  capacityIn('us-east-1');
  expect(await step(job.id)).toMatchObject({ kind: 'wait' });
  const recorded = (await store().mustGet(job.id)).instance!;
  expect(recorded.status).toBe('booting');
  return { job, instanceId: recorded.id };
}

describe('provisioning a queued job', () => {
  it('moves it to provisioning and launches in the first of its regions that has capacity', async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] } });
    capacityIn('us-west-1');

    const outcome = await step(job.id, { marker: 'kept' });
    expect(outcome).toEqual({ kind: 'wait', delayMs: 1234, step: {} });

    const { launches } = h.deps.lambda;
    expect(launches).toHaveLength(1);
    const launch = launches[0]!;
    expect(launch.regionName).toBe('us-west-1');
    expect(launch.instanceTypeName).toBe('gpu_1x_a10');
    expect(launch.sshKeyNames).toEqual(['k']);
    expect(launch.name).toBe(`inno-train-${job.id}`);
    expect(launch.tags).toContainEqual({ key: 'inno-train:job', value: job.id });
    expect(launch.tags).toContainEqual({ key: 'inno-train:ns', value: h.ns });
    expect(launch.tags).toContainEqual({ key: 'inno-train:attempt', value: '1' });
    const launchedAt = launch.tags!.find((tag) => tag.key === 'inno-train:launched-at');
    expect(launchedAt?.value).toMatch(ISO_WITH_OFFSET);

    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('provisioning');
    expect(stored.startedAt).toMatch(ISO_WITH_OFFSET);
    expect(stored.instance).toEqual({
      id: 'i-1-us-west-1',
      type: 'gpu_1x_a10',
      region: 'us-west-1',
      ip: null,
      status: 'booting',
      launchedAt: expect.stringMatching(ISO_WITH_OFFSET),
      terminatedAt: null,
      priceCentsPerHour: 75,
      bootDeadlineAt: expect.stringMatching(ISO_WITH_OFFSET),
    });
    expect(stored.launchAttempts).toBe(1);
    const events = await store().events(job.id);
    expect(events.map((e) => e.stage)).toEqual(['submit', 'provisioning', 'provisioning']);
    expect(events[1]).toMatchObject({ type: 'status', data: { status: 'provisioning' } });
    expect(events[2]).toMatchObject({ type: 'instance', data: { instanceId: 'i-1-us-west-1', region: 'us-west-1', type: 'gpu_1x_a10' } });
  });

  it("follows the job's region preference order, not the order Lambda lists capacity in", async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] } });
    capacityIn('us-west-1', 'us-east-1');
    await step(job.id);
    expect(h.deps.lambda.launches.map((l) => l.regionName)).toEqual(['us-east-1']);
  });

  it('launches in the first region with capacity when the job names no regions', async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_1x_a10' } });
    capacityIn('eu-central-1', 'us-west-1');
    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.lambda.launches.map((l) => l.regionName)).toEqual(['eu-central-1']);
    expect((await store().mustGet(job.id)).instance?.region).toBe('eu-central-1');
  });

  it('moves on to the next region when a launch finds no capacity, and records a capacity event', async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] } });
    capacityIn('us-east-1', 'us-west-1');
    h.deps.lambda.onLaunch = async (request) => {
      if (request.regionName === 'us-east-1') throw { ...INSUFFICIENT_CAPACITY };
      return { instanceIds: ['i-west'] };
    };

    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.lambda.launches.map((l) => l.regionName)).toEqual(['us-east-1', 'us-west-1']);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('provisioning');
    expect(stored.instance).toMatchObject({ id: 'i-west', region: 'us-west-1', status: 'booting' });
    const capacity = (await store().events(job.id)).filter((e) => e.type === 'capacity');
    expect(capacity).toHaveLength(1);
    expect(capacity[0]).toMatchObject({ stage: 'provisioning', data: { region: 'us-east-1' } });
    expect(capacity[0]!.message).toContain('us-east-1');
  });

  it("fails with no_capacity when none of the job's regions has capacity, without launching, and enqueues teardown", async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] } });
    capacityIn('eu-central-1');

    expect(await step(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.launches).toHaveLength(0);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('failed');
    expect(stored.finishedAt).toMatch(ISO_WITH_OFFSET);
    expect(stored.instance).toBeNull();
    expect(stored.error).toEqual({ code: 'no_capacity', message: expect.stringContaining('us-east-1, us-west-1'), stage: 'provisioning' });
    const teardowns = await pendingFor(h.queues, 'teardown', job.id);
    expect(teardowns).toHaveLength(1);
    expect(teardowns[0]!.data).toEqual({ jobId: job.id, step: { reason: 'failed: no_capacity' } });
  });

  it('fails with no_capacity when every region with capacity turns the launch down', async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] } });
    capacityIn('us-east-1', 'us-west-1');
    h.deps.lambda.onLaunch = async () => {
      throw { ...INSUFFICIENT_CAPACITY };
    };

    expect(await step(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.launches).toHaveLength(2);
    const stored = await store().mustGet(job.id);
    expect(stored.error?.code).toBe('no_capacity');
    expect((await store().events(job.id)).filter((e) => e.type === 'capacity')).toHaveLength(2);
  });

  it('lets a launch error other than capacity propagate without failing the job', async () => {
    const job = await createJob(store());
    capacityIn('us-east-1', 'us-west-1');
    h.deps.lambda.onLaunch = async () => {
      throw { code: 'provider/internal-unavailable', message: 'down' };
    };

    await expect(step(job.id)).rejects.toMatchObject({ code: 'provider/internal-unavailable' });
    expect(h.deps.lambda.launches).toHaveLength(1);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('provisioning');
    expect(stored.instance).toBeNull();
  });

  it('fails with unknown_instance_type naming the known types', async () => {
    const job = await createJob(store(), { instance: { type: 'gpu_3x_nonexistent' } });

    expect(await step(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.launches).toHaveLength(0);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('failed');
    expect(stored.error?.code).toBe('unknown_instance_type');
    expect(stored.error?.message).toContain('gpu_3x_nonexistent');
    expect(stored.error?.message).toContain('gpu_1x_a10, gpu_8x_h100');
    expect(await pendingFor(h.queues, 'teardown', job.id)).toHaveLength(1);
  });

  it('adopts an instance already tagged with the job instead of launching a second one', async () => {
    const job = await createJob(store());
    // A worker died after its launch call: the marker it set is still there (launch.ts).
    await store().update(job.id, (j) => ({ ...j, launchInFlightSince: isoNow(Date.now() - 1000) }));
    capacityIn('us-east-1', 'us-west-1');
    const launchedAt = '2030-01-02T03:04:05.000+00:00';
    h.deps.lambda.listed = [
      { id: 'i-other', status: 'active', tags: [{ key: 'inno-train:job', value: 'jsomeotherjob0000000000' }] },
      {
        id: 'i-earlier',
        status: 'booting',
        ip: null,
        name: `inno-train-${job.id}`,
        region: { name: 'us-west-1' },
        instance_type: { name: 'gpu_1x_a10', price_cents_per_hour: 75 },
        tags: [
          { key: 'inno-train:job', value: job.id },
          { key: 'inno-train:launched-at', value: launchedAt },
          { key: 'inno-train:attempt', value: '1' },
        ],
      },
    ];

    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.lambda.launches).toHaveLength(0);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('provisioning');
    expect(stored.instance).toEqual({
      id: 'i-earlier',
      type: 'gpu_1x_a10',
      region: 'us-west-1',
      ip: null,
      status: 'booting',
      launchedAt,
      terminatedAt: null,
      priceCentsPerHour: 75,
      bootDeadlineAt: expect.stringMatching(ISO_WITH_OFFSET),
    });
    expect((await store().events(job.id)).some((e) => e.type === 'instance' && e.message.includes('Adopted'))).toBe(true);
  });

  it('does not adopt a terminated instance tagged with the job', async () => {
    const job = await createJob(store());
    capacityIn('us-east-1');
    h.deps.lambda.listed = [{ id: 'i-dead', status: 'terminated', tags: [{ key: 'inno-train:job', value: job.id }] }];

    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.lambda.launches).toHaveLength(1);
    expect((await store().mustGet(job.id)).instance?.id).not.toBe('i-dead');
  });

  it('does nothing for a job that was cancelled before provisioning started', async () => {
    const job = await createJob(store());
    await store().update(job.id, (j) => ({ ...j, status: 'cancelled', cancelRequested: true, finishedAt: isoNow() }));
    expect(await step(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.launches).toHaveLength(0);
    expect(h.deps.lambda.listTypeCalls).toBe(0);
    expect((await store().mustGet(job.id)).status).toBe('cancelled');
  });
});

describe('waiting for the instance to boot', () => {
  it('waits while the instance is booting, without probing SSH', async () => {
    const { job, instanceId } = await launchedJob();
    expect(await step(job.id, { sshMisses: 1 })).toEqual({ kind: 'wait', delayMs: 1234, step: { sshMisses: 1 } });
    expect(h.deps.lambda.getCalls).toEqual([instanceId]);
    expect(h.deps.shell.probes).toHaveLength(0);
    expect(h.deps.lambda.launches).toHaveLength(1);
    expect((await store().mustGet(job.id)).status).toBe('provisioning');
  });

  it('waits while the instance is active with an address but SSH does not answer yet, recording the address', async () => {
    const { job, instanceId } = await launchedJob();
    h.deps.lambda.setInstance(instanceId, { status: 'active', ip: '203.0.113.7' });
    h.deps.shell.reachable = false;

    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.shell.probes).toEqual([{ host: '203.0.113.7', port: 22, username: 'ubuntu' }]);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('provisioning');
    expect(stored.instance).toMatchObject({ id: instanceId, status: 'active', ip: '203.0.113.7' });
    expect(await pendingFor(h.queues, 'stage-in', job.id)).toHaveLength(0);
  });

  it('waits for an active instance that has no address yet, without probing', async () => {
    const { job, instanceId } = await launchedJob();
    h.deps.lambda.setInstance(instanceId, { status: 'active', ip: null });
    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.shell.probes).toHaveLength(0);
  });

  it('hands the job to stage-in once the instance is active and answers SSH', async () => {
    const { job, instanceId } = await launchedJob();
    h.deps.lambda.setInstance(instanceId, { status: 'active', ip: '203.0.113.8' });
    h.deps.shell.reachable = true;

    expect(await step(job.id)).toEqual({ kind: 'done' });
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('staging_in');
    expect(stored.instance).toMatchObject({ status: 'active', ip: '203.0.113.8' });
    const stageIn = await h.queues['stage-in'].getJob(`${job.id}.stage-in.0`);
    expect(stageIn).toBeDefined();
    expect(stageIn!.data).toEqual({ jobId: job.id, step: {} });
    const last = (await store().events(job.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'status', data: { status: 'staging_in' } });
    expect(last.message).toContain(instanceId);
  });

  it('gives back an instance terminated while booting and launches again', async () => {
    const { job, instanceId } = await launchedJob();
    h.deps.lambda.setInstance(instanceId, { status: 'terminated' });

    expect(await step(job.id)).toEqual({ kind: 'wait', delayMs: 0, step: {} });
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('provisioning');
    expect(stored.instance).toBeNull();
    expect(stored.retiredInstances).toEqual([
      expect.objectContaining({ id: instanceId, retiredReason: expect.stringContaining('terminated') }),
    ]);
    expect(h.deps.lambda.terminations).toContainEqual([instanceId]);
    expect(h.deps.shell.probes).toHaveLength(0);

    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.lambda.launches).toHaveLength(2);
    expect((await store().mustGet(job.id)).launchAttempts).toBe(2);
  });

  it('gives back an instance Lambda no longer knows', async () => {
    const { job, instanceId } = await launchedJob();
    h.deps.lambda.instances.delete(instanceId);
    expect(await step(job.id)).toEqual({ kind: 'wait', delayMs: 0, step: {} });
    const stored = await store().mustGet(job.id);
    expect(stored.retiredInstances?.[0]?.retiredReason).toContain('404');
  });

  it('gives back an instance that is not ready at its boot deadline, and fails with provision_failed after the last launch', async () => {
    const { job, instanceId } = await launchedJob();
    const longAgo = new Date(Date.now() - 60_000).toISOString().replace('Z', '+00:00');
    await store().update(job.id, (j) => {
      j.instance!.bootDeadlineAt = longAgo;
      j.launchAttempts = 3;
      return j;
    });
    h.deps.lambda.setInstance(instanceId, { status: 'booting' });

    expect(await step(job.id)).toEqual({ kind: 'done' });
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('failed');
    expect(stored.error).toEqual({ code: 'provision_failed', message: expect.stringContaining('after 3 launches'), stage: 'provisioning' });
    expect(h.deps.shell.probes).toHaveLength(0);
    expect(await pendingFor(h.queues, 'teardown', job.id)).toHaveLength(1);
  });

  it('still waits just before the boot deadline', async () => {
    const { job, instanceId } = await launchedJob();
    const soon = new Date(Date.now() + 60_000).toISOString().replace('Z', '+00:00');
    await store().update(job.id, (j) => {
      j.instance!.bootDeadlineAt = soon;
      return j;
    });
    h.deps.lambda.setInstance(instanceId, { status: 'booting' });
    expect(await step(job.id)).toMatchObject({ kind: 'wait' });
    expect((await store().mustGet(job.id)).status).toBe('provisioning');
  });
});

describe('a cancel that arrives while the launch call is in flight', () => {
  it('records the launched instance and terminates it at once', async () => {
    const job = await createJob(store());
    capacityIn('us-east-1');
    h.deps.lambda.onLaunch = async () => {
      await store().update(job.id, (j) => ({ ...j, status: 'cancelled', cancelRequested: true, finishedAt: isoNow() }));
      return { instanceIds: ['i-late'] };
    };

    expect(await step(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.launches).toHaveLength(1);
    expect(h.deps.lambda.terminations).toEqual([['i-late']]);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('cancelled');
    expect(stored.instance).toMatchObject({ id: 'i-late', region: 'us-east-1' });
    expect(await pendingFor(h.queues, 'teardown', job.id)).toHaveLength(1);
  });
});

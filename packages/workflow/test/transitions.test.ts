import { QUEUES, stageJobId } from '@inno-train/workflow-constants';
import { advance, ensureStageQueued, restartOnNewHost, teardownJobId } from '../src';
import { jobRecord, liveInstance, openHarness } from './harness';

describe('after a worker died between a state change and queueing what comes next', () => {
  const h = openHarness('tr');
  const { store, queues, deps, saved } = h;

  afterAll(() => h.close());

  it('queues the stage of the status the job is in, once however often asked', async () => {
    const job = await saved({ status: 'training', instance: liveInstance });
    await ensureStageQueued(deps, job);
    await ensureStageQueued(deps, job);
    expect((await queues[QUEUES.training].getJob(`${job.id}.train.0`))?.data).toEqual({ jobId: job.id, step: {} });
    expect(await queues[QUEUES.training].getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('queues teardown for a stopped job whose instance is not confirmed gone, and nothing for one already given back', async () => {
    const live = await saved({ status: 'cancelled', cancelRequested: true, instance: liveInstance });
    const gone = await saved({ status: 'failed', instance: { ...liveInstance, terminatedAt: new Date().toISOString() } });
    await ensureStageQueued(deps, live);
    await ensureStageQueued(deps, gone);
    // Sweeps every minute while the termination is unconfirmed add nothing to what is queued.
    await ensureStageQueued(deps, live);
    await ensureStageQueued(deps, live);
    const teardowns = (await queues[QUEUES.teardown].getJobs(['waiting'])).map((j) => j.data.jobId);
    expect(teardowns).toEqual([live.id]);
  });

  it('queues one teardown per retired instance of a running job, however often swept', async () => {
    const retired = [
      { ...liveInstance, id: 'i-old-1' },
      { ...liveInstance, id: 'i-old-2' },
      { ...liveInstance, id: 'i-done', terminatedAt: new Date().toISOString() },
    ];
    const job = await saved({ status: 'training', instance: { ...liveInstance, id: 'i-now' }, retiredInstances: retired });
    for (let sweep = 0; sweep < 3; sweep++) await ensureStageQueued(deps, job);
    const ids = (await queues[QUEUES.teardown].getJobs(['waiting']))
      .filter((j) => j.data.jobId === job.id)
      .map((j) => j.id)
      .sort();
    expect(ids).toEqual([`${job.id}.teardown.i-old-1`, `${job.id}.teardown.i-old-2`]);
  });

  it('records a move and its event in one write: a second advance changes nothing and adds no event', async () => {
    const job = await saved({ status: 'staging_in', instance: liveInstance });
    const move = { transition: 'inputs_ready' as const, stage: 'staging_in' as const, message: 'Inputs on the host' };
    expect(await advance(deps, job.id, move)).toBe(true);
    expect(await advance(deps, job.id, move)).toBe(false);
    expect((await store.events(job.id)).filter((e) => e.message === 'Inputs on the host')).toHaveLength(1);
    expect(await queues[QUEUES.training].getJob(`${job.id}.train.0`)).toBeDefined();
  });
});

describe('a job whose host is lost and whose retry.onHostLost allows a restart', () => {
  const h = openHarness('tr-restart');
  const { store, queues, deps, saved } = h;

  afterAll(() => h.close());

  const spec = (onHostLost: number) => ({ ...jobRecord('j', {}).spec, retry: { onHostLost } });

  it('goes back to provisioning with a retry event and a status event naming the status it left, in one write, keeping the synced checkpoints', async () => {
    const checkpoint = {
      name: 'step-3',
      step: 3,
      at: '2026-01-01T00:00:00.000Z',
      uri: 's3://b/o/checkpoints/step-3/',
      bytes: 1,
      files: 1,
      signature: 's',
    };
    const job = await saved({
      status: 'training',
      instance: liveInstance,
      spec: spec(2),
      checkpoints: [checkpoint],
      checkpointSync: { nextRoundAt: 1, listedAt: 2, seen: { 'step-4': 'x' }, retryAt: 0, pending: null },
    });
    expect(await restartOnNewHost(deps, job.id, 'host refuses connections', 'training')).toBe(true);
    // What was synced stays (the new host resumes from it); the old host's sync state does not.
    expect(await store.mustGet(job.id)).toMatchObject({
      status: 'provisioning',
      instance: null,
      hostRestarts: 1,
      checkpoints: [checkpoint],
      checkpointSync: null,
    });
    const events = await store.events(job.id);
    expect(events.map((e) => e.type)).toEqual(['status', 'retry', 'status']);
    expect(events[1]).toMatchObject({
      stage: 'training',
      message: 'Host lost (host refuses connections); starting over on a new instance (restart 1 of 2)',
      data: { reason: 'host refuses connections', cause: 'host_lost', restart: 1, of: 2 },
    });
    expect(events[2]).toMatchObject({
      stage: 'training',
      message: 'Back to provisioning: host lost during training, restart 1 of 2',
      data: { status: 'provisioning', from: 'training', transition: 'host_lost_restart', cause: 'host_lost', restart: 1 },
    });
    expect(events[2]!.at).toBe(events[1]!.at);
    expect(await queues[QUEUES.provisioning].getJob(stageJobId(QUEUES.provisioning, job.id, 1))).toBeDefined();
    expect(await queues[QUEUES.teardown].getJob(teardownJobId(job.id, liveInstance.id))).toBeDefined();
  });

  it('names staging_in as the status it left when the host is lost during stage-in, and counts the restarts', async () => {
    const job = await saved({ status: 'staging_in', instance: liveInstance, spec: spec(2), hostRestarts: 1 });
    expect(await restartOnNewHost(deps, job.id, 'host reported unhealthy', 'staging_in')).toBe(true);
    const status = (await store.events(job.id)).at(-1);
    expect(status).toMatchObject({
      type: 'status',
      stage: 'staging_in',
      data: { status: 'provisioning', from: 'staging_in', transition: 'host_lost_restart', restart: 2 },
    });
  });

  it('changes nothing and records no event once the restarts are used up, or when the job already went back', async () => {
    const used = await saved({ status: 'training', instance: liveInstance, spec: spec(1), hostRestarts: 1 });
    expect(await restartOnNewHost(deps, used.id, 'host refuses connections')).toBe(false);
    expect(await store.mustGet(used.id)).toMatchObject({ status: 'training', hostRestarts: 1 });
    expect(await store.events(used.id)).toHaveLength(1);

    const job = await saved({ status: 'training', instance: liveInstance, spec: spec(3) });
    expect(await restartOnNewHost(deps, job.id, 'host refuses connections')).toBe(true);
    // A redelivered step asks again: the job is in provisioning now, so nothing more is recorded.
    expect(await restartOnNewHost(deps, job.id, 'host refuses connections')).toBe(false);
    expect((await store.events(job.id)).filter((e) => e.type === 'status' && e.data?.transition === 'host_lost_restart')).toHaveLength(1);
  });
});

import { QUEUES } from '@inno-train/workflow-constants';
import { advance, ensureStageQueued } from '../src';
import { liveInstance, openHarness } from './harness';

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

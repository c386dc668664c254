import { isoNow } from '@inno-train/core';
import { reconcileOnce } from '../src';
import { createJob, logger, openHarness, resetFakes, type Harness } from './harness';

let h: Harness;
beforeAll(() => {
  h = openHarness('reconcile');
});
beforeEach(() => resetFakes(h));
afterAll(async () => {
  await h.close();
});

const GRACE = 60_000;
const old = () => isoNow(Date.now() - 2 * GRACE);

function instance(id: string, jobId: string, launchedAt: string, extraTags: { key: string; value: string }[] = []) {
  return {
    id,
    status: 'active',
    tags: [
      { key: 'inno-train:job', value: jobId },
      { key: 'inno-train:launched-at', value: launchedAt },
      { key: 'inno-train:ns', value: h.ns },
      ...extraTags,
    ],
  };
}

const reconcile = () =>
  reconcileOnce({
    store: h.deps.store,
    queues: h.queues,
    lambda: h.deps.lambda,
    cloud: h.deps.cloud,
    maxAgeMs: 0,
    namespace: h.ns,
    graceMs: GRACE,
    logger,
  });

describe('the orphan reconciler', () => {
  it('terminates our instances whose job is unknown or finished, after the grace period, and records it on the job', async () => {
    const finished = await createJob(h.deps.store);
    await h.deps.store.update(finished.id, (j) => ({ ...j, status: 'succeeded', finishedAt: old() }));
    h.deps.lambda.listed = [
      instance('i-unknown', 'j00000000000000000nojob', old()),
      instance('i-finished', finished.id, old()),
      instance('i-young', 'j00000000000000000nojob', isoNow()),
    ];
    const report = await reconcile();
    expect(report.terminated).toEqual([
      { instanceId: 'i-unknown', jobId: 'j00000000000000000nojob', reason: 'unknown_job' },
      { instanceId: 'i-finished', jobId: finished.id, reason: 'job_finished' },
    ]);
    expect(h.deps.lambda.terminations).toEqual([['i-unknown'], ['i-finished']]);
    expect((await h.deps.store.events(finished.id)).some((e) => e.type === 'reconciler')).toBe(true);
  });

  it('never touches instances that are not tagged as ours, or belong to another installation', async () => {
    h.deps.lambda.listed = [
      { id: 'i-untagged', status: 'active', tags: [] },
      {
        id: 'i-other-ns',
        status: 'active',
        tags: [
          { key: 'inno-train:job', value: 'j00000000000000000nojob' },
          { key: 'inno-train:launched-at', value: old() },
          { key: 'inno-train:ns', value: 'someone-else' },
        ],
      },
    ];
    const report = await reconcile();
    expect(report).toMatchObject({ checked: 2, ours: 0, terminated: [] });
    expect(h.deps.lambda.terminations).toEqual([]);
  });

  it("leaves a running job's own instance alone but terminates an orphan launched for it", async () => {
    const job = await createJob(h.deps.store);
    await h.deps.store.update(job.id, (j) => {
      j.status = 'training';
      j.instance = {
        id: 'i-current',
        type: 'gpu_1x_a10',
        region: 'us-east-1',
        ip: '1.2.3.4',
        status: 'active',
        launchedAt: old(),
        terminatedAt: null,
        priceCentsPerHour: 75,
      };
      return j;
    });
    h.deps.lambda.listed = [instance('i-current', job.id, old()), instance('i-orphan', job.id, old())];
    const report = await reconcile();
    expect(report.terminated).toEqual([{ instanceId: 'i-orphan', jobId: job.id, reason: 'orphan' }]);
  });
});

describe('the running-jobs sweep', () => {
  it('queues the current stage of a running job whose stage was never queued, and nothing twice', async () => {
    const stuck = await createJob(h.deps.store);
    await h.deps.store.update(stuck.id, (j) => ({ ...j, status: 'staging_in' }));
    const before = await h.queues['stage-in'].getJobCounts('waiting');
    const report = await reconcile();
    expect(report.swept).toBeGreaterThanOrEqual(1);
    const queued = await h.queues['stage-in'].getJob(`${stuck.id}.stage-in.0`);
    expect(queued?.data).toEqual({ jobId: stuck.id, step: {} });
    await reconcile();
    expect((await h.queues['stage-in'].getJobCounts('waiting')).waiting).toBe((before.waiting ?? 0) + 1);
  });
});

import { Redis } from 'ioredis';
import { createJobStore, newJobId } from '@inno-train/job-store';
import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
import { QUEUES } from '@inno-train/workflow-constants';
import { advance, closeStageQueues, ensureStageQueued, openStageQueues } from '../src';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function record(id: string, patch: Partial<JobRecord>): JobRecord {
  const now = new Date().toISOString();
  return {
    id, name: null, status: 'queued', createdAt: now, updatedAt: now, startedAt: null, finishedAt: null,
    spec: { instance: { type: 'gpu_1x_a10' }, inputs: {}, script: { inline: 'print(1)', filename: 'train.py' }, command: 'python3 train.py', outputUri: 's3://b/o/' },
    instance: null, progress: null, outputs: [], error: null, pendingError: null, cancelRequested: false,
    createdBy: null, training: { startedAt: null, exitCode: null }, metadata: {}, ...patch,
  };
}

const liveInstance: InstanceInfo = { id: 'i-1', type: 'gpu_1x_a10', region: 'us-east-1', ip: '127.0.0.1', status: 'active', launchedAt: new Date().toISOString(), terminatedAt: null, priceCentsPerHour: 75 };

describe('after a worker died between a state change and queueing what comes next', () => {
  const namespace = `t-tr-${process.pid}-${Date.now()}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queues = openStageQueues({ connection: redis, prefix: `{${namespace}}` });
  const store = createJobStore({ redis, namespace });
  const deps = { store, queues };

  afterAll(async () => {
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await closeStageQueues(queues);
    const keys = await redis.keys(`${namespace}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  async function saved(patch: Partial<JobRecord>): Promise<JobRecord> {
    const job = record(newJobId(), patch);
    await store.create(job, { at: job.createdAt, type: 'status', stage: 'submit', message: 'Job submitted' });
    return job;
  }

  it('queues the stage of the status the job is in, once however often asked', async () => {
    const job = await saved({ status: 'training', instance: liveInstance });
    await ensureStageQueued(deps, job);
    await ensureStageQueued(deps, job);
    expect((await queues[QUEUES.train].getJob(`${job.id}.train.0`))?.data).toEqual({ jobId: job.id, step: {} });
    expect(await queues[QUEUES.train].getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('queues teardown for a stopped job whose instance is not confirmed gone, and nothing for one already given back', async () => {
    const live = await saved({ status: 'cancelled', cancelRequested: true, instance: liveInstance });
    const gone = await saved({ status: 'failed', instance: { ...liveInstance, terminatedAt: new Date().toISOString() } });
    await ensureStageQueued(deps, live);
    await ensureStageQueued(deps, gone);
    const teardowns = (await queues[QUEUES.teardown].getJobs(['waiting'])).map((j) => j.data.jobId);
    expect(teardowns).toEqual([live.id]);
  });

  it('records a move and its event in one write: a second advance changes nothing and adds no event', async () => {
    const job = await saved({ status: 'staging_in', instance: liveInstance });
    const move = { from: ['staging_in' as const], to: 'training' as const, stage: 'staging_in' as const, message: 'Inputs on the host', next: QUEUES.train };
    expect(await advance(deps, job.id, move)).toBe(true);
    expect(await advance(deps, job.id, move)).toBe(false);
    expect((await store.events(job.id)).filter((e) => e.message === 'Inputs on the host')).toHaveLength(1);
    expect(await queues[QUEUES.train].getJob(`${job.id}.train.0`)).toBeDefined();
  });
});

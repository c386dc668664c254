/** A namespace of its own on the real Redis: the stage queues, the job store, and records to save. */
import { openRedisNamespace } from '@inno-train/test-kit';
import { createJobStore, newJobId } from '@inno-train/job-store';
import { createJobRecord, type InstanceInfo, type JobRecord } from '@inno-train/schemas';
import { closeStageQueues, openStageQueues } from '../src';

export function jobRecord(id: string, patch: Partial<JobRecord>): JobRecord {
  return createJobRecord(
    {
      id,
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: 'print(1)', filename: 'train.py' },
        command: 'python3 train.py',
        outputUri: 's3://b/o/',
      },
    },
    patch,
  );
}

export const liveInstance: InstanceInfo = {
  id: 'i-1',
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: '127.0.0.1',
  status: 'active',
  launchedAt: new Date().toISOString(),
  terminatedAt: null,
  priceCentsPerHour: 75,
};

export function openHarness(name: string) {
  const space = openRedisNamespace(name);
  const { redis, namespace } = space;
  const queues = openStageQueues({ connection: redis, prefix: space.prefix });
  const store = createJobStore({ redis, namespace });
  return {
    redis,
    queues,
    store,
    deps: { store, queues },
    /** Creates a job record in the store, as the API would. */
    async saved(patch: Partial<JobRecord> = {}): Promise<JobRecord> {
      const job = jobRecord(newJobId(), patch);
      await store.create(job, { at: job.createdAt, type: 'status', stage: 'submit', message: 'Job submitted' });
      return job;
    },
    async close(): Promise<void> {
      await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
      await closeStageQueues(queues);
      await space.close();
    },
  };
}

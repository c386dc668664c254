import { Queue } from 'bullmq';
import { createLogger } from '@inno-train/core';
import { createJobStore, newJobId } from '@inno-train/job-store';
import { createJobRecord } from '@inno-train/schemas';
import { openRedisNamespace } from '@inno-train/test-kit';
import { cloudListingKey, countOurInstances, createTelemetry, redisStoreReaders, registerStoreGauges } from '../src';

const logger = createLogger({ name: 'readers-test', level: 'silent' });

function job(id: string) {
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

const instance = (id: string, status: string, tags: [string, string][]) =>
  JSON.stringify({ id, status, tags: tags.map(([key, value]) => ({ key, value })) });

describe('the Redis readers behind inno_jobs, inno_queue_jobs and inno_instances', () => {
  const space = openRedisNamespace('telemetry-readers');
  const queue = new Queue('inno-provisioning', { connection: space.redis, prefix: space.prefix });

  afterAll(async () => {
    await queue.close();
    await space.close();
  });

  it('counts jobs by status from the status index, queue jobs by state, and only our instances by cloud status', async () => {
    const store = createJobStore({ redis: space.redis, namespace: space.namespace });
    const ids = [newJobId(), newJobId(), newJobId()];
    for (const id of ids) await store.create(job(id), { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'x' });
    await store.update(ids[0]!, (current) => ({ ...current, status: 'provisioning' }));
    await queue.add('step', { jobId: ids[0] });
    await queue.add('step', { jobId: ids[1] }, { delay: 60_000 });
    const ns = space.namespace;
    await space.redis.hset(cloudListingKey(ns), {
      a: instance('a', 'active', [
        ['inno-train:ns', ns],
        ['inno-train:job', ids[0]!],
      ]),
      b: instance('b', 'booting', [
        ['inno-train:ns', ns],
        ['inno-train:job', ids[1]!],
      ]),
      c: instance('c', 'active', [
        ['inno-train:ns', 'another-install'],
        ['inno-train:job', 'x'],
      ]),
      d: instance('d', 'active', []),
    });

    const readers = redisStoreReaders({ redis: space.redis, namespace: ns, queues: { 'inno-provisioning': queue } });
    expect(await readers.jobCounts()).toMatchObject({ queued: 2, provisioning: 1, succeeded: 0, cancelled: 0 });
    expect((await readers.queueCounts())['inno-provisioning']).toMatchObject({ waiting: 1, delayed: 1, active: 0 });
    expect(await readers.instanceCounts()).toEqual({ active: 1, booting: 1 });

    const telemetry = createTelemetry({ app: 'api', defaultMetrics: false });
    registerStoreGauges(telemetry, readers, logger);
    const text = await telemetry.registry.metrics();
    expect(text).toContain('inno_jobs{status="queued",app="api"} 2');
    expect(text).toContain('inno_queue_jobs{queue="inno-provisioning",state="delayed",app="api"} 1');
    expect(text).toContain('inno_instances{status="booting",app="api"} 1');
  });

  it('skips listing entries that are not instances', () => {
    expect(countOurInstances(['not json', 'null', '{"id":"x"}'], 'ns')).toEqual({});
  });
});

/**
 * The shared view of the cloud's instances, on real Redis: replicas share one listing, a new one is
 * made at most once per interval, and a reader never gets a listing older than it asked for.
 */
import { Redis } from 'ioredis';
import { deleteNamespace } from '@inno-train/test-kit';
import type { CloudInstance } from '@inno-train/cloud-port';
import { createSharedCloudView, type CloudView } from '../src';
import { REDIS_URL } from './harness';

const ns = `t-prov-cloud-view-${process.pid}-${Date.now()}`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await deleteNamespace(redis, ns);
  await redis.quit();
});

/** A cloud whose listing is scripted and counted; `fail` makes it answer with an error. */
function scriptedCloud(instances: CloudInstance[]) {
  const cloud = {
    instances,
    calls: 0,
    fail: false,
    types: { gpu_1x_a10: { instance_type: { name: 'gpu_1x_a10', price_cents_per_hour: 75 }, regions_with_capacity_available: [] } },
    typeCalls: 0,
    async listInstances() {
      cloud.calls++;
      if (cloud.fail) throw new Error('Lambda answered 503');
      return structuredClone(cloud.instances);
    },
    async listInstanceTypes() {
      cloud.typeCalls++;
      if (cloud.fail) throw new Error('Lambda answered 503');
      return structuredClone(cloud.types) as never;
    },
  };
  return cloud;
}

function views(cloud: ReturnType<typeof scriptedCloud>, prefix: string, count: number, options = {}): CloudView[] {
  return Array.from({ length: count }, () =>
    createSharedCloudView({ cloud, redis, prefix, minIntervalMs: 300, waitTimeoutMs: 2000, pollMs: 20, ...options }),
  );
}

describe('the shared cloud view', () => {
  it('answers many readers on many replicas with one listing', async () => {
    const cloud = scriptedCloud([
      { id: 'i-1', status: 'active' },
      { id: 'i-2', status: 'booting' },
    ]);
    const replicas = views(cloud, `{${ns}}:a`, 3);
    // A millisecond back: a reader wants an answer taken strictly after its time, and the one request
    // may go out within the millisecond of Date.now() here (then a second would be right, and the count flaky).
    const asked = Date.now() - 1;
    const answers = await Promise.all(replicas.flatMap((view) => [view.get('i-1', asked), view.get('i-2', asked), view.list(asked)]));
    expect(cloud.calls).toBe(1);
    expect(answers[0]).toMatchObject({ id: 'i-1', status: 'active' });
    expect(answers[1]).toMatchObject({ id: 'i-2', status: 'booting' });
    const listing = answers[2] as Awaited<ReturnType<CloudView['list']>>;
    expect(listing.instances.map((instance) => instance.id).sort()).toEqual(['i-1', 'i-2']);
    expect(listing.at).toBeGreaterThanOrEqual(asked);
    // An older listing is good enough for a reader that allows it; absence from it means not listed.
    expect(await replicas[1]!.get('i-404', asked)).toBeNull();
    expect(cloud.calls).toBe(1);
  });

  it('answers every launch of every replica with one instance-types request while it is recent enough', async () => {
    const cloud = scriptedCloud([]);
    const replicas = views(cloud, `{${ns}}:types`, 3);
    // A millisecond back: a reader wants an answer taken strictly after its time, and the one request
    // may go out within the millisecond of Date.now() here (then a second would be right, and the count flaky).
    const asked = Date.now() - 1;
    const answers = await Promise.all(replicas.flatMap((view) => [view.instanceTypes(asked), view.instanceTypes(asked - 5000)]));
    expect(cloud.typeCalls).toBe(1);
    for (const answer of answers) expect(Object.keys(answer)).toEqual(['gpu_1x_a10']);
    // Instance types and listings are separate answers: neither stands in for the other.
    expect(cloud.calls).toBe(0);
    // A reader that needs an answer newer than the stored one gets a new request, and its answer.
    cloud.types = { gpu_8x_h100: { instance_type: { name: 'gpu_8x_h100' }, regions_with_capacity_available: [] } } as never;
    expect(Object.keys(await replicas[2]!.instanceTypes(Date.now()))).toEqual(['gpu_8x_h100']);
    expect(cloud.typeCalls).toBe(2);
    expect(Object.keys(await replicas[0]!.instanceTypes(asked))).toEqual(['gpu_8x_h100']);
    expect(cloud.typeCalls).toBe(2);
  });

  it('lists again for a reader that needs a newer listing, at most once per interval', async () => {
    const cloud = scriptedCloud([{ id: 'i-1', status: 'active' }]);
    const [view] = views(cloud, `{${ns}}:b`, 1);
    await view!.list(Date.now());
    cloud.instances = [{ id: 'i-1', status: 'terminated' }];
    const started = Date.now();
    // Asked right after the first listing: the interval holds the second one back, then it is made.
    expect(await view!.get('i-1', Date.now())).toMatchObject({ status: 'terminated' });
    expect(cloud.calls).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('never answers with an older listing when no new one can be had: the reader gets an error', async () => {
    const cloud = scriptedCloud([{ id: 'i-1', status: 'active' }]);
    const [view, other] = views(cloud, `{${ns}}:c`, 2);
    await view!.list(Date.now());
    cloud.fail = true;
    // The instance is gone from no listing: the reader that lists sees the failure itself...
    await expect(view!.get('i-1', Date.now() + 1)).rejects.toThrow('Lambda answered 503');
    // ...and one that waits on another's listing gives up with a retryable error, not a stale answer.
    const lister = other!.list(Date.now() + 400).catch((error: Error) => error);
    const waiter = await view!.get('i-1', Date.now() + 400).catch((error: Error) => error);
    const errors = [await lister, waiter] as Error[];
    expect(errors.every((error) => error instanceof Error)).toBe(true);
    expect(errors.map((error) => (error as { code?: string }).code ?? error.message).sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/cloud_view_stale|Lambda answered 503/)]),
    );
  });

  it('keeps the newer of two listings written out of order', async () => {
    let release: () => void = () => undefined;
    const slow = scriptedCloud([{ id: 'i-old', status: 'active' }]);
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowCloud = {
      async listInstances() {
        const answer = await slow.listInstances();
        await gate;
        return answer;
      },
      listInstanceTypes: () => slow.listInstanceTypes(),
    };
    const prefix = `{${ns}}:d`;
    const first = createSharedCloudView({ cloud: slowCloud, redis, prefix, minIntervalMs: 1, pollMs: 5 });
    const fast = scriptedCloud([{ id: 'i-new', status: 'active' }]);
    const second = createSharedCloudView({ cloud: fast, redis, prefix, minIntervalMs: 1, pollMs: 5 });
    const older = first.list(Date.now());
    await new Promise((resolve) => setImmediate(resolve));
    const newer = await second.list(Date.now() + 5);
    release();
    await older;
    expect(newer.instances.map((instance) => instance.id)).toEqual(['i-new']);
    expect((await second.list(0)).instances.map((instance) => instance.id)).toEqual(['i-new']);
  });
});

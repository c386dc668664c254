/** The one path by which host log bytes reach the store (poll step and live tail alike), on real Redis. */
import { createJobStore, createMetricsStore, newJobId } from '@inno-train/job-store';
import { createJobRecord } from '@inno-train/schemas';
import { openRedisNamespace } from '@inno-train/test-kit';
import { ingestLog } from '../src/log-ingest';

describe('storing a piece of a host log', () => {
  const space = openRedisNamespace('log-ingest');
  const { redis, namespace } = space;
  const store = createJobStore({ redis, namespace });
  const metrics = createMetricsStore({ redis, namespace });
  const deps = { store, metrics };

  afterAll(async () => {
    await space.close();
  });

  async function job(): Promise<string> {
    const id = newJobId();
    const spec = {
      instance: { type: 'gpu_1x_a10' },
      inputs: {},
      script: { inline: '', filename: 't.py' },
      command: 'true',
      outputUri: 's3://b/o/',
    };
    await store.create(createJobRecord({ id, spec }, { status: 'training' }), {
      at: new Date().toISOString(),
      type: 'status',
      stage: 'submit',
      message: 'x',
    });
    return id;
  }

  it('stores the text, its metric points and the progress when the stored log ends at its offset', async () => {
    const id = await job();
    const text = 'x\n{"step": 3, "loss": 0.5}\n';
    expect(await ingestLog(deps, id, 'i-1', { from: 0, consumed: Buffer.byteLength(text), text })).toEqual({
      appended: true,
      offset: Buffer.byteLength(text),
    });
    expect(await store.log(id)).toBe(text);
    expect((await store.mustGet(id)).progress).toEqual({ step: 3, loss: 0.5 });
    expect((await metrics.page(id, undefined, 10)).points.map((point) => point.step)).toEqual([3]);
  });

  it('stores nothing of a refused piece but its points, which the winner stored too, and leaves the progress alone', async () => {
    const id = await job();
    const first = '{"step": 1, "loss": 2}\n{"step": 2, "loss": 1}\n';
    await ingestLog(deps, id, 'i-1', { from: 0, consumed: Buffer.byteLength(first), text: first });
    // A slower reader of the same bytes, with fewer of them: refused, the series and progress unchanged.
    const late = '{"step": 1, "loss": 2}\n';
    expect(await ingestLog(deps, id, 'i-1', { from: 0, consumed: Buffer.byteLength(late), text: late })).toEqual({
      appended: false,
      offset: Buffer.byteLength(first),
    });
    expect(await store.log(id)).toBe(first);
    expect((await store.mustGet(id)).progress).toEqual({ step: 2, loss: 1 });
    const page = await metrics.page(id, undefined, 10);
    expect(page.points.map((point) => [point.step, point.values])).toEqual([
      [1, { loss: 2 }],
      [2, { loss: 1 }],
    ]);
  });
});

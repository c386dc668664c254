import { openRedisNamespace } from '@inno-train/test-kit';
import { createJobRecord, METRIC_SERIES_LIMITS, type MetricPoint } from '@inno-train/schemas';
import { createJobStore, createMetricsStore, jobDataKeys, newJobId, storeKeys, type MetricRecord, type MetricsStore } from '../src';

const AT = '2025-01-01T00:00:00.000Z';
const LATER = '2025-01-01T00:05:00.000Z';

const records = (from: number, to: number): MetricRecord[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ step: from + i, values: { loss: 1 / (from + i), lr: 0.0002 } }));

/** Every point of the series, paged `limit` at a time as a client would. */
async function everyPoint(metrics: MetricsStore, id: string, limit = 7): Promise<MetricPoint[]> {
  const all: MetricPoint[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await metrics.page(id, after, limit);
    all.push(...page.points);
    if (!page.hasMore) return all;
    after = page.points.at(-1)!.step;
  }
}

describe('the metric series', () => {
  const space = openRedisNamespace('metrics');
  const { redis, namespace } = space;
  const metrics = createMetricsStore({ redis, namespace });

  afterAll(async () => {
    await space.close();
  });

  it('keeps every record once, in step order, and pages it after a step', async () => {
    const id = newJobId();
    // Printed out of order: a late evaluation at step 0, after step 40.
    const outcome = await metrics.append(id, [...records(1, 40), { step: 0, values: { eval_loss: 2 } }], AT);
    expect(outcome).toEqual({ added: 41, merged: 0, skipped: 0, stride: 1, thinned: 0 });
    const all = await everyPoint(metrics, id);
    expect(all.map((p) => p.step)).toEqual(Array.from({ length: 41 }, (_, i) => i));
    expect(all[5]).toEqual({ step: 5, at: AT, values: { loss: 0.2, lr: 0.0002 } });
    const page = await metrics.page(id, 37, 2);
    expect(page).toEqual({
      points: [expect.objectContaining({ step: 38 }), expect.objectContaining({ step: 39 })],
      hasMore: true,
      stride: 1,
      total: 41,
    });
    expect(await metrics.page(id, 40, 10)).toEqual({ points: [], hasMore: false, stride: 1, total: 41 });
    expect(await metrics.page(newJobId(), undefined, 10)).toEqual({ points: [], hasMore: false, stride: 1, total: 0 });
    expect(await metrics.count(id)).toBe(41);
  });

  it('merges a second record of a step into one point: later values win, the first read time stays', async () => {
    const id = newJobId();
    await metrics.append(id, [{ step: 100, values: { loss: 0.5, lr: 0.1 } }], AT);
    const outcome = await metrics.append(id, [{ step: 100, values: { eval_loss: 0.7, lr: 0.05 } }], LATER);
    expect(outcome).toMatchObject({ added: 0, merged: 1 });
    expect(await everyPoint(metrics, id)).toEqual([{ step: 100, at: AT, values: { loss: 0.5, lr: 0.05, eval_loss: 0.7 } }]);
    // Within one chunk too.
    await metrics.append(id, [
      { step: 101, values: { loss: 1 } },
      { step: 101, values: { loss: 2, acc: 0.5 } },
    ]);
    expect((await metrics.page(id, 100, 10)).points[0]!.values).toEqual({ loss: 2, acc: 0.5 });
  });

  it('changes nothing when the monitor reads the same chunk again', async () => {
    const id = newJobId();
    const chunk = [...records(1, 30), { step: 30, values: { eval_loss: 3 } }];
    await metrics.append(id, chunk, AT);
    const before = await everyPoint(metrics, id);
    const again = await metrics.append(id, chunk, LATER);
    expect(again).toEqual({ added: 0, merged: 30, skipped: 0, stride: 1, thinned: 0 });
    expect(await everyPoint(metrics, id)).toEqual(before);
  });

  it('keeps every digit of a merged value (Redis would round to 14 significant digits)', async () => {
    const id = newJobId();
    const values = { a: 0.12345678901234568, b: 1e300, c: -3.14e-7, d: 123456789012345680, e: 0.1, f: 5e-324 };
    await metrics.append(id, [{ step: 1, values: { z: 1 } }], AT);
    await metrics.append(id, [{ step: 1, values }], LATER);
    expect((await metrics.page(id, undefined, 1)).points[0]!.values).toEqual({ z: 1, ...values });
  });

  it('takes numbers only, at most maxValues names of at most maxNameLength characters, never __proto__', async () => {
    const id = newJobId();
    const wide: Record<string, number> = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`m${String(i).padStart(2, '0')}`, i]));
    const record = { step: 1, values: { ...wide, ['x'.repeat(65)]: 1, nan: NaN, text: 'no' as unknown as number } };
    await metrics.append(id, [record, { step: Infinity, values: { loss: 1 } }, { step: 'two' as unknown as number, values: {} }]);
    const [point, ...rest] = await everyPoint(metrics, id);
    expect(rest).toEqual([]);
    expect(Object.keys(point!.values)).toHaveLength(METRIC_SERIES_LIMITS.maxValues);
    expect(point!.values).toMatchObject({ m00: 0, m63: 63 });
    expect(point!.values.m64).toBeUndefined();
    // A merge respects the same limit.
    await metrics.append(id, [{ step: 1, values: { another: 1, m00: -1 } }]);
    const merged = (await metrics.page(id, undefined, 1)).points[0]!.values;
    expect(Object.keys(merged)).toHaveLength(METRIC_SERIES_LIMITS.maxValues);
    expect(merged).toMatchObject({ m00: -1 });
    const proto = JSON.parse('{"__proto__": 4, "loss": 1}') as Record<string, number>;
    await metrics.append(id, [{ step: 2, values: proto }]);
    const second = (await metrics.page(id, 1, 1)).points[0]!;
    expect(second.values).toEqual({ loss: 1 });
    expect(Object.getPrototypeOf(second.values)).toBe(Object.prototype);
  });
});

describe('the metric series past its bound', () => {
  const space = openRedisNamespace('metrics-bound');
  const { redis, namespace } = space;
  const store = createJobStore({ redis, namespace });
  const bounded = createMetricsStore({ redis, namespace, maxPoints: 10 });

  afterAll(async () => {
    await space.close();
  });

  /** The series keeps the whole run at an even resolution: steps 1, 1 + stride, 1 + 2 stride, ... */
  function expectEvenSeries(points: MetricPoint[], stride: number) {
    const steps = points.map((p) => p.step);
    expect(steps[0]).toBe(1);
    expect(steps.slice(1).map((step, i) => step - steps[i]!)).toEqual(Array(steps.length - 1).fill(stride));
    expect(steps.length).toBeLessThanOrEqual(10);
    expect(steps.length).toBeGreaterThan(5);
  }

  it('halves the series instead of growing past maxPoints, one event per halving, the same whether read step by step or at once', async () => {
    const oneByOne = newJobId();
    for (const record of records(1, 100)) await bounded.append(oneByOne, [record], AT);
    const atOnce = newJobId();
    const outcome = await bounded.append(atOnce, records(1, 100), AT);
    expect(outcome.stride).toBe(16);
    expect(outcome.thinned).toBe(4);
    const series = await everyPoint(bounded, atOnce, 3);
    expectEvenSeries(series, 16);
    expect(await everyPoint(bounded, oneByOne, 3)).toEqual(series);
    expect(series.at(-1)).toEqual({ step: 97, at: AT, values: { loss: 1 / 97, lr: 0.0002 } });

    const events = await store.events(atOnce);
    expect(events.map((e) => [e.type, e.stage, (e.data as { stride: number }).stride])).toEqual([
      ['training', 'training', 2],
      ['training', 'training', 4],
      ['training', 'training', 8],
      ['training', 'training', 16],
    ]);
    expect(events[0]!.message).toMatch(
      /^The metric series outgrew 10 points or \d+ bytes and was thinned: it now keeps one metrics record in 2 \(6 points\)$/,
    );
    expect(events[0]!.at).toBe(AT);
    expect(await store.events(oneByOne)).toHaveLength(4);
  });

  it('reading chunks again after a halving adds nothing back and raises no second event', async () => {
    const id = newJobId();
    await bounded.append(id, records(1, 30), AT);
    const before = await everyPoint(bounded, id);
    const eventsBefore = (await store.events(id)).length;
    const again = await bounded.append(id, records(1, 30), LATER);
    expect(again).toMatchObject({ added: 0, thinned: 0, stride: 4 });
    expect(again.merged + again.skipped).toBe(30);
    expect(await everyPoint(bounded, id)).toEqual(before);
    expect(await store.events(id)).toHaveLength(eventsBefore);
    // The run goes on at the same stride: 33 follows 29 (1 + 4k).
    await bounded.append(id, records(31, 40), LATER);
    expectEvenSeries(await everyPoint(bounded, id), 4);
  });

  it('halves by bytes too, for records too wide for maxPoints to bound', async () => {
    const byBytes = createMetricsStore({ redis, namespace, maxPoints: 1000, maxBytes: 4096 });
    const id = newJobId();
    const wide = (step: number): MetricRecord => ({
      step,
      values: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`metric_${i}`, step + i / 10])),
    });
    const outcome = await byBytes.append(
      id,
      Array.from({ length: 200 }, (_, i) => wide(i + 1)),
    );
    expect(outcome.stride).toBeGreaterThan(1);
    const raw = await redis.zrange(storeKeys(namespace).metrics(id), 0, -1);
    expect(raw.reduce((sum, line) => sum + Buffer.byteLength(line), 0)).toBeLessThanOrEqual(4096);
    expect(Number(await redis.hget(storeKeys(namespace).metricsState(id), 'bytes'))).toBe(
      raw.reduce((sum, line) => sum + Buffer.byteLength(line), 0),
    );
  });

  it('goes with the job when the job is deleted', async () => {
    const id = newJobId();
    const job = createJobRecord({
      id,
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: 'print(1)', filename: 'train.py' },
        command: 'python3 train.py',
        outputUri: 's3://b/o/',
      },
    });
    await store.create(job, { at: AT, type: 'status', stage: 'submit', message: 'Job submitted' });
    await bounded.append(id, records(1, 30), AT);
    const keys = storeKeys(namespace);
    expect(jobDataKeys(keys, id)).toEqual(expect.arrayContaining([keys.metrics(id), keys.metricsState(id)]));
    expect(await redis.exists(keys.metrics(id), keys.metricsState(id))).toBe(2);
    expect((await store.remove(id, () => true)).outcome).toBe('removed');
    expect(await redis.exists(keys.metrics(id), keys.metricsState(id))).toBe(0);
  });
});

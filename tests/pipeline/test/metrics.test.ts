/**
 * The metric series on real parts: a real job prints thousands of metrics lines; GET
 * /v1/jobs/:id/metrics pages every one of them back, once each, in step order. The monitor is killed
 * right after it stored the first chunk's points (before its step state says so), so the chunk is
 * read again by its replacement: the series must not change for it.
 */
import { readFileSync } from 'node:fs';
import { waitFor } from '@inno-train/test-kit';
import { getEvents, startStack, submitJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(240_000);

const STEPS = 2500;

/** Prints STEPS metrics lines as fast as it can, with other output between them and an evaluation record of the last step. */
const SCRIPT = String.raw`
import json, os
total = ${STEPS}
print('loading data', flush=True)
for step in range(1, total + 1):
    print(json.dumps({"step": step, "total_steps": total, "loss": 1.0 / step, "lr": 0.0002 * (1 - step / total)}))
    if step % 500 == 0:
        print('checkpoint at step %d' % step)
print(json.dumps({"step": total, "eval_loss": 0.25}), flush=True)
open(os.path.join(os.environ['OUTPUT_DIR'], 'done.txt'), 'w').write('ok')
`;

let stack: Stack;

beforeAll(async () => {
  // Short step locks: the killed monitor's step comes back in seconds.
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.7.', extraEnv: { STEP_LOCK_MS: '3000', STEP_STALLED_CHECK_MS: '1000' } });
});

afterAll(async () => {
  await stack?.stop();
});

interface Point {
  step: number;
  at: string;
  values: Record<string, number>;
}

/** Every point of the job's series, paged `limit` at a time as a client would, with the pages' bound fields. */
async function everyPoint(id: string, limit: number) {
  const points: Point[] = [];
  const strides = new Set<number>();
  let after: number | undefined;
  let pages = 0;
  for (;;) {
    const answer = await stack.api(`/v1/jobs/${id}/metrics?limit=${limit}${after === undefined ? '' : `&after=${after}`}`);
    expect(answer.status).toBe(200);
    points.push(...(answer.json.data as Point[]));
    strides.add(answer.json.stride);
    pages++;
    if (!answer.json.hasMore) return { points, pages, strides: [...strides] };
    after = points.at(-1)!.step;
  }
}

describe('the metric series of a real run', () => {
  it('pages back every step once, in order, with its values, though the monitor died after storing a chunk', async () => {
    const monitor = stack.apps.findIndex((app) => app.app === 'monitor');
    const armed = await stack.killAndRestart(monitor, { INNO_CRASH_POINTS: 'train:after-metrics' });
    const id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: SCRIPT, filename: 'train.py' } });

    await waitFor(() => armed.child.signalCode === 'SIGKILL', {
      timeoutMs: 120_000,
      description: 'the monitor to die at train:after-metrics',
    });
    expect(readFileSync(armed.logFile, 'utf8')).toContain('{"crashPoint":"train:after-metrics"');
    await stack.killAndRestart(monitor);

    const job = await waitForJobEnd(stack, id);
    expect({ status: job.status, error: job.error }).toEqual({ status: 'succeeded', error: null });
    expect(job.progress).toEqual({ step: STEPS, eval_loss: 0.25 });

    const { points, pages, strides } = await everyPoint(id, 97);
    expect(pages).toBe(Math.ceil(STEPS / 97));
    expect(strides).toEqual([1]);
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    // The same arithmetic in Python and here: every value came back to the last bit.
    const expected = (step: number) => ({ total_steps: STEPS, loss: 1.0 / step, lr: 0.0002 * (1 - step / STEPS) });
    expect(points.slice(0, -1).map((p) => p.values)).toEqual(points.slice(0, -1).map((p) => expected(p.step)));
    // The evaluation record of the last step merged into its point.
    expect(points.at(-1)!.values).toEqual({ total_steps: STEPS, loss: 1 / STEPS, lr: 0, eval_loss: 0.25 });
    expect(points.every((p) => Number.isFinite(Date.parse(p.at)))).toBe(true);

    const whole = await stack.api(`/v1/jobs/${id}/metrics`);
    expect({ count: whole.json.data.length, hasMore: whole.json.hasMore, total: whole.json.total }).toEqual({
      count: 1000,
      hasMore: true,
      total: STEPS,
    });
    expect((await getEvents(stack, id)).filter((e) => /metric series/.test(e.message))).toEqual([]);
  });
});

import { waitFor } from '@inno-train/test-kit';
import {
  ENDLESS_SCRIPT,
  getEvents,
  getJob,
  getRecord,
  startOwnRedis,
  startStack,
  submitJob,
  tinyJob,
  waitForJobEnd,
  type Stack,
} from '../src';

jest.setTimeout(300_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ipBase: 10, extraEnv: { UNREACHABLE_GRACE_MS: '6000', CAPACITY_POLL_MS: '300' } });
});

afterAll(async () => {
  await stack?.stop();
});

const SLOW_SCRIPT = String.raw`
import json, os, time
for step in range(1, 13):
    print(json.dumps({"step": step, "total_steps": 12}), flush=True)
    time.sleep(0.5)
open(os.path.join(os.environ['OUTPUT_DIR'], 'done.txt'), 'w').write('ok')
`;

describe('resilience', () => {
  it('finishes jobs after every worker is stopped with SIGTERM mid-run and started again', async () => {
    const id = await submitJob(stack, tinyJob({ type: 'gpu_1x_a10' }, { script: { inline: SLOW_SCRIPT, filename: 'train.py' } }));
    await waitFor(async () => (await getJob(stack, id)).progress?.step >= 2 || undefined, {
      timeoutMs: 60_000,
      description: 'training to progress',
    });
    const workers = stack.apps.map((app, index) => ({ app, index })).filter(({ app }) => app.app !== 'api');
    await Promise.all(workers.map(({ app }) => app.stop('SIGTERM')));
    expect(workers.every(({ app }) => app.child.exitCode === 0)).toBe(true);
    for (const { index } of workers) await stack.killAndRestart(index);
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
    expect(job.outputs.map((o: { key: string }) => o.key)).toContain(`jobs/${id}/output/done.txt`);
    expect((await getEvents(stack, id)).filter((e) => e.message.startsWith('Started:'))).toHaveLength(1);
  });

  it('cancels a job while it is provisioning: nothing is launched and it ends cancelled', async () => {
    const id = await submitJob(stack, tinyJob({ type: 'gpu_8x_h100_sxm5', capacityWaitSeconds: 600 }));
    await waitFor(async () => (await getEvents(stack, id)).some((e) => e.message.startsWith('Waiting up to')) || undefined, {
      timeoutMs: 30_000,
      description: 'provisioning to wait for capacity',
    });
    expect((await getJob(stack, id)).status).toBe('provisioning');
    expect((await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' })).json.status).toBe('cancelled');
    stack.lambda.state.setCapacity('gpu_8x_h100_sxm5', 'us-east-1', 1);
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('cancelled');
    expect(stack.lambda.state.ledger().filter((e) => e.jobTag === id)).toHaveLength(0);
    stack.lambda.state.setCapacity('gpu_8x_h100_sxm5', 'us-east-1', 0);
  });

  it('cancels a job right after submission, whatever stage it reached', async () => {
    const id = await submitJob(stack, tinyJob());
    expect((await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('cancelled');
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });

  it('rides out a host that stops answering for less than the grace window', async () => {
    const id = await submitJob(stack, tinyJob({ type: 'gpu_1x_a10' }, { script: { inline: SLOW_SCRIPT, filename: 'train.py' } }));
    const training = await waitFor(
      async () => {
        const job = await getJob(stack, id);
        return job.status === 'training' && job.progress?.step >= 1 ? job : undefined;
      },
      { timeoutMs: 60_000, description: 'training' },
    );
    const host = stack.hosts.get(training.instance.id)!;
    await host.pause();
    const pausedAt = Date.now();
    // The fault lasts 2 s (a third of the grace window), then the host answers again.
    await waitFor(() => Date.now() - pausedAt > 2000 || undefined, { timeoutMs: 5000, description: 'the pause' });
    await host.resume();
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
  });

  it('fails with host_lost when the host stops answering for longer than the grace window', async () => {
    const id = await submitJob(stack, tinyJob({ type: 'gpu_1x_a10' }, { script: { inline: ENDLESS_SCRIPT, filename: 'train.py' } }));
    const training = await waitFor(
      async () => {
        const job = await getJob(stack, id);
        return job.status === 'training' && job.progress?.step >= 1 ? job : undefined;
      },
      { timeoutMs: 60_000, description: 'training' },
    );
    await stack.hosts.get(training.instance.id)!.pause();
    const job = await waitForJobEnd(stack, id, 120_000);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'host_lost', stage: 'training' });
    expect(stack.lambda.state.instance(training.instance.id)?.status).toBe('terminated');
  });

  it('starts over on a new instance when the host dies and the job asked for retry.onHostLost', async () => {
    const id = await submitJob(
      stack,
      tinyJob({ type: 'gpu_1x_a10' }, { retry: { onHostLost: 1 }, script: { inline: SLOW_SCRIPT, filename: 'train.py' } }),
    );
    const training = await waitFor(
      async () => {
        const job = await getJob(stack, id);
        return job.status === 'training' && job.progress?.step >= 1 ? job : undefined;
      },
      { timeoutMs: 60_000, description: 'training' },
    );
    await stack.hosts.get(training.instance.id)!.kill();
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
    expect((await getRecord(stack, id)).retiredInstances).toEqual([
      expect.objectContaining({ id: training.instance.id, retiredReason: expect.stringContaining('refuses connections') }),
    ]);
    expect(job.instance.id).not.toBe(training.instance.id);
    const ledger = stack.lambda.state.ledger().filter((e) => e.jobTag === id);
    expect(ledger).toHaveLength(2);
    expect(ledger.every((e) => e.terminatedAt)).toBe(true);
    expect((await getEvents(stack, id)).some((e) => e.message.includes('starting over on a new instance'))).toBe(true);
  });
});

describe('a Redis restart in the middle of jobs', () => {
  it('is ridden out: every process reconnects by itself and the jobs finish', async () => {
    const redis = await startOwnRedis();
    const own = await startStack({ ipBase: 200, redisUrl: redis.url });
    try {
      const ids = [
        await submitJob(own, tinyJob({ type: 'gpu_1x_a10' }, { script: { inline: SLOW_SCRIPT, filename: 'train.py' } })),
        await submitJob(own, tinyJob({ type: 'gpu_1x_a10' }, { script: { inline: SLOW_SCRIPT, filename: 'train.py' } })),
      ];
      await waitFor(async () => (await getJob(own, ids[0]!)).progress?.step >= 1 || undefined, {
        timeoutMs: 60_000,
        description: 'training',
      });
      await redis.stop();
      // While Redis is down the API answers 503 at once (no offline queue), never hangs.
      const asked = Date.now();
      const down = await own.api(`/v1/jobs/${ids[0]}`);
      const answeredInMs = Date.now() - asked;
      expect(down.status).toBe(503);
      expect(down.json.error.code).toBe('unavailable');
      expect(answeredInMs).toBeLessThan(2000);
      await redis.start();
      const jobs = await Promise.all(ids.map((id) => waitForJobEnd(own, id)));
      expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
      expect(own.apps.every((app) => app.child.exitCode === null)).toBe(true);
      process.stdout.write(
        `redis down: the API answered 503 in ${answeredInMs} ms; after the restart both jobs ${jobs.map((j) => j.status).join(', ')}\n`,
      );
    } finally {
      await own.stop();
      await redis.close();
    }
  });
});

import { isoNow } from '@inno-train/core';
import type { JobStatus } from '@inno-train/workflow-constants';
import { teardownStep } from '../src';
import { createJob, logger, openHarness, payloadOf, resetFakes, type Harness } from './harness';

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;

let h: Harness;

beforeAll(() => {
  h = openHarness('teardown', { terminatePollMs: 777 });
});

beforeEach(() => {
  resetFakes(h);
});

afterAll(async () => {
  await h.close();
});

type Step = Record<string, number | string | boolean>;
const run = (jobId: string, step: Step = {}) => teardownStep(h.deps, payloadOf(jobId, step), logger);
const store = () => h.deps.store;

/** A job that ended with `status` and has a live instance recorded. */
async function endedJobWithInstance(status: JobStatus, options: { trainingStarted?: boolean; ip?: string | null } = {}) {
  const job = await createJob(store());
  const instanceId = `i-${job.id.slice(-8)}`;
  const ip = options.ip === undefined ? '198.51.100.4' : options.ip;
  await store().update(job.id, (j) => {
    j.status = status;
    j.finishedAt = isoNow();
    j.cancelRequested = status === 'cancelled';
    j.instance = {
      id: instanceId,
      type: 'gpu_1x_a10',
      region: 'us-east-1',
      ip,
      status: 'active',
      launchedAt: isoNow(),
      terminatedAt: null,
      priceCentsPerHour: 75,
    };
    if (options.trainingStarted) j.training.startedAt = isoNow();
    return j;
  });
  h.deps.lambda.setInstance(instanceId, { status: 'active', ip });
  return { jobId: job.id, instanceId };
}

describe('teardown', () => {
  it('terminates, waits while Lambda still shows the instance, and re-issues terminate every third poll', async () => {
    const { jobId, instanceId } = await endedJobWithInstance('failed');
    let step: Step = {};
    const terminatesAfterPoll: number[] = [];
    for (let poll = 0; poll < 7; poll++) {
      const outcome = await run(jobId, step);
      expect(outcome).toEqual({ kind: 'wait', delayMs: 777, step: expect.objectContaining({ polls: poll + 1 }) });
      if (outcome.kind !== 'wait') throw new Error('unreachable');
      step = outcome.step;
      terminatesAfterPoll.push(h.deps.lambda.terminations.length);
    }
    // polls 0, 3 and 6 call terminate
    expect(terminatesAfterPoll).toEqual([1, 1, 1, 2, 2, 2, 3]);
    expect(h.deps.lambda.terminations.every((ids) => ids.length === 1 && ids[0] === instanceId)).toBe(true);
    // One listing per poll serves every instance of the job (the shared cloud view in production).
    expect(h.deps.lambda.listCalls).toBe(7);

    const stored = await store().mustGet(jobId);
    expect(stored.instance?.terminatedAt).toBeNull();
    const terminating = (await store().events(jobId)).filter((e) => e.stage === 'teardown');
    expect(terminating).toHaveLength(1);
    expect(terminating[0]!.message).toBe(`Terminating instance ${instanceId}`);
  });

  it('records the termination once Lambda says terminated, and a second run does nothing', async () => {
    const { jobId, instanceId } = await endedJobWithInstance('succeeded');
    expect(await run(jobId)).toMatchObject({ kind: 'wait', step: { polls: 1 } });
    h.deps.lambda.setInstance(instanceId, { status: 'terminated' });

    expect(await run(jobId, { polls: 1 })).toEqual({ kind: 'done' });
    const stored = await store().mustGet(jobId);
    expect(stored.instance?.status).toBe('terminated');
    expect(stored.instance?.terminatedAt).toMatch(ISO_WITH_OFFSET);
    expect(stored.status).toBe('succeeded');
    const confirmed = (await store().events(jobId)).filter((e) => e.message.includes('terminated (confirmed)'));
    expect(confirmed).toHaveLength(1);
    expect(confirmed[0]).toMatchObject({ type: 'teardown', stage: 'teardown', message: `Instance ${instanceId} terminated (confirmed)` });

    const terminateCalls = h.deps.lambda.terminations.length;
    const getCalls = h.deps.lambda.getCalls.length;
    const eventCount = (await store().events(jobId)).length;
    expect(await run(jobId)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.terminations).toHaveLength(terminateCalls);
    expect(h.deps.lambda.getCalls).toHaveLength(getCalls);
    expect(await store().events(jobId)).toHaveLength(eventCount);
    expect((await store().mustGet(jobId)).instance?.terminatedAt).toBe(stored.instance?.terminatedAt);
  });

  it('counts an instance Lambda no longer knows as terminated', async () => {
    const { jobId, instanceId } = await endedJobWithInstance('failed');
    h.deps.lambda.instances.delete(instanceId);

    expect(await run(jobId)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.terminations).toEqual([[instanceId]]);
    const stored = await store().mustGet(jobId);
    expect(stored.instance).toMatchObject({ status: 'terminated', terminatedAt: expect.stringMatching(ISO_WITH_OFFSET) });
    expect((await store().events(jobId)).some((e) => e.message === `Instance ${instanceId} terminated (confirmed)`)).toBe(true);
  });

  it('leaves a job that has not ended alone', async () => {
    const job = await createJob(store());
    await store().update(job.id, (j) => {
      j.status = 'training';
      j.instance = {
        id: 'i-running',
        type: 'gpu_1x_a10',
        region: 'us-east-1',
        ip: '198.51.100.9',
        status: 'active',
        launchedAt: isoNow(),
        terminatedAt: null,
        priceCentsPerHour: 75,
      };
      return j;
    });
    expect(await run(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.terminations).toHaveLength(0);
    expect((await store().mustGet(job.id)).instance?.terminatedAt).toBeNull();
  });

  it('does nothing for an ended job that never got an instance', async () => {
    const job = await createJob(store());
    await store().update(job.id, (j) => ({ ...j, status: 'failed', finishedAt: isoNow() }));
    expect(await run(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.terminations).toHaveLength(0);
    expect(h.deps.lambda.getCalls).toHaveLength(0);
  });

  it('stops the training process group before terminating a cancelled job whose training started', async () => {
    const { jobId, instanceId } = await endedJobWithInstance('cancelled', { trainingStarted: true });
    const order: string[] = [];
    const shell = h.deps.shell;
    const exec = shell.exec.bind(shell);
    shell.exec = async (target, command) => {
      order.push('exec');
      return exec(target, command);
    };
    const lambda = h.deps.lambda;
    const terminate = lambda.terminate.bind(lambda);
    lambda.terminate = async (ids) => {
      order.push('terminate');
      return terminate(ids);
    };

    const outcome = await run(jobId);
    expect(outcome).toMatchObject({ kind: 'wait', step: { killed: true, polls: 1 } });
    expect(order).toEqual(['exec', 'terminate']);
    expect(shell.commands).toHaveLength(1);
    expect(shell.commands[0]!.host).toBe('198.51.100.4');
    expect(shell.commands[0]!.command).toContain('kill -TERM -- -');
    expect(shell.commands[0]!.command).toContain(`inno-train/${jobId}`);
    expect((await store().events(jobId)).some((e) => e.stage === 'cancel' && e.message === 'Training process stopped')).toBe(true);

    // The next poll carries `killed` and does not kill again.
    if (outcome.kind !== 'wait') throw new Error('unreachable');
    lambda.setInstance(instanceId, { status: 'terminated' });
    expect(await run(jobId, outcome.step)).toEqual({ kind: 'done' });
    expect(shell.commands).toHaveLength(1);
  });

  it('terminates anyway when stopping the training process fails', async () => {
    const { jobId, instanceId } = await endedJobWithInstance('cancelled', { trainingStarted: true });
    h.deps.shell.execError = new Error('ssh: connection refused');
    const outcome = await run(jobId);
    expect(outcome).toMatchObject({ kind: 'wait', step: { killed: true } });
    expect(h.deps.shell.commands).toHaveLength(1);
    expect(h.deps.lambda.terminations).toEqual([[instanceId]]);
  });

  it('does not run the kill command for a cancelled job whose training never started', async () => {
    const { jobId, instanceId } = await endedJobWithInstance('cancelled', { trainingStarted: false });
    h.deps.lambda.setInstance(instanceId, { status: 'terminated' });
    expect(await run(jobId)).toEqual({ kind: 'done' });
    expect(h.deps.shell.commands).toHaveLength(0);
    expect(h.deps.lambda.terminations).toEqual([[instanceId]]);
  });

  it('does not run the kill command for a failed job', async () => {
    const { jobId } = await endedJobWithInstance('failed', { trainingStarted: true });
    await run(jobId);
    expect(h.deps.shell.commands).toHaveLength(0);
  });
});

describe('teardown of a job whose launch answer was lost', () => {
  it('finds the instance tagged with the job, records it, and terminates it', async () => {
    const job = await createJob(store());
    await store().update(job.id, (j) => ({ ...j, status: 'failed', finishedAt: isoNow() }));
    h.deps.lambda.listed = [
      {
        id: 'i-ghost',
        status: 'booting',
        tags: [
          { key: 'inno-train:job', value: job.id },
          { key: 'inno-train:launched-at', value: isoNow() },
        ],
      },
    ];
    h.deps.lambda.setInstance('i-ghost', { status: 'booting' });

    expect(await run(job.id)).toMatchObject({ kind: 'wait' });
    expect(h.deps.lambda.terminations).toEqual([['i-ghost']]);
    h.deps.lambda.setInstance('i-ghost', { status: 'terminated' });
    expect(await run(job.id, { polls: 1 })).toEqual({ kind: 'done' });
    const stored = await store().mustGet(job.id);
    expect(stored.retiredInstances).toEqual([
      expect.objectContaining({ id: 'i-ghost', retiredReason: 'launch answer lost', terminatedAt: expect.stringMatching(ISO_WITH_OFFSET) }),
    ]);
  });
});

import { createLogger, InnoError } from '@inno-train/core';
import { openRedisNamespace, waitFor } from '@inno-train/test-kit';
import { QUEUES, type StagePayload } from '@inno-train/workflow-constants';
import { closeStageQueues, closeWorkerWithDeadline, enqueueStage, openStageQueues, startStepWorker, type StepHandler } from '../src';

const logger = createLogger({ name: 'test', level: 'silent' });

describe('step workers', () => {
  const space = openRedisNamespace('wf');
  const { redis: connection, prefix } = space;
  const queues = openStageQueues({ connection, prefix });

  afterAll(async () => {
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await closeStageQueues(queues);
    await space.close();
  });

  async function runWorker(handler: StepHandler, onGiveUp = jest.fn(async () => undefined), onRetry = jest.fn(async () => undefined)) {
    const worker = startStepWorker({ queue: QUEUES.training, connection, prefix, concurrency: 5, handler, onGiveUp, onRetry, logger });
    return { worker, onGiveUp, onRetry };
  }

  it("parks a waiting step as delayed and runs it again with the state it saved, parsed by its stage's schema", async () => {
    const seen: StagePayload['step'][] = [];
    const { worker } = await runWorker(async (payload) => {
      seen.push(payload.step);
      const offset = Number(payload.step.offset ?? 0);
      return offset < 3 ? { kind: 'wait', delayMs: 20, step: { offset: offset + 1, notInTheSchema: 'dropped' } } : { kind: 'done' };
    });
    await enqueueStage(queues, QUEUES.training, 'j0000000000000000000001');
    await waitFor(() => seen.length === 4, { timeoutMs: 10_000, description: 'four runs of the step' });
    expect(seen).toEqual([{}, { offset: 1 }, { offset: 2 }, { offset: 3 }]);
    await closeWorkerWithDeadline(worker, 5000);
  });

  it('enqueues a stage once however often it is asked', async () => {
    for (let i = 0; i < 3; i++) await enqueueStage(queues, QUEUES.staging_out, 'j0000000000000000000002');
    expect(await queues[QUEUES.staging_out].getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('gives up at once on an error that is not retryable', async () => {
    const { worker, onGiveUp, onRetry } = await runWorker(async () => {
      throw new InnoError('bad_input', 'nope');
    });
    await enqueueStage(queues, QUEUES.training, 'j0000000000000000000003');
    await waitFor(() => onGiveUp.mock.calls.length === 1, { timeoutMs: 10_000, description: 'give up' });
    expect(onRetry).not.toHaveBeenCalled();
    expect((onGiveUp.mock.calls[0] as unknown[])[1]).toMatchObject({ code: 'bad_input' });
    await closeWorkerWithDeadline(worker, 5000);
  });

  it('retries a retryable error and succeeds on a later attempt', async () => {
    let runs = 0;
    const { worker, onGiveUp, onRetry } = await runWorker(async () => {
      runs++;
      if (runs === 1) throw new InnoError('flaky', 'try again', { retryable: true });
      return { kind: 'done' };
    });
    await queues[QUEUES.training].add(
      'train',
      { jobId: 'j0000000000000000000004', step: {} },
      { jobId: 'retry-test', backoff: { type: 'fixed', delay: 10 } },
    );
    await waitFor(() => runs === 2, { timeoutMs: 10_000, description: 'a second attempt' });
    expect(onRetry).toHaveBeenCalledTimes(1);
    expect(onGiveUp).not.toHaveBeenCalled();
    await closeWorkerWithDeadline(worker, 5000);
  });
});

import { QUEUES } from '@inno-train/workflow-constants';
import { applyDecision } from '../src';
import { liveInstance, openHarness } from './harness';

describe('the one executor of stage decisions (real Redis)', () => {
  const h = openHarness('decision');
  afterAll(() => h.close());

  it('makes a declared transition with its event in one write and queues the next stage, once', async () => {
    const job = await h.saved({ status: 'staging_in', instance: liveInstance });
    const decision = { kind: 'advance' as const, transition: 'inputs_ready' as const, message: 'Inputs on the host' };
    expect(await applyDecision(h.deps, job.id, 'staging_in', decision)).toEqual({ kind: 'done' });
    expect(await applyDecision(h.deps, job.id, 'staging_in', decision)).toEqual({ kind: 'done' });
    expect((await h.store.mustGet(job.id)).status).toBe('training');
    const events = (await h.store.events(job.id)).filter((e) => e.message === 'Inputs on the host');
    expect(events).toEqual([expect.objectContaining({ stage: 'staging_in', data: { status: 'training', transition: 'inputs_ready' } })]);
    expect(await h.queues[QUEUES.training].getJob(`${job.id}.train.0`)).toBeDefined();
  });

  it('fails a job with its code and stage, and hands it to teardown', async () => {
    const job = await h.saved({ status: 'training', instance: liveInstance });
    await applyDecision(h.deps, job.id, 'training', { kind: 'fail', code: 'training_failed', message: 'exit 1' });
    expect(await h.store.mustGet(job.id)).toMatchObject({
      status: 'failed',
      error: { code: 'training_failed', message: 'exit 1', stage: 'training' },
    });
    expect(await h.queues[QUEUES.teardown].getJob(`${job.id}.teardown.final`)).toBeDefined();
  });

  it('parks a wait as it is, and changes nothing for done', async () => {
    const job = await h.saved({ status: 'training' });
    expect(await applyDecision(h.deps, job.id, 'training', { kind: 'wait', delayMs: 5, step: { offset: 3 } })).toEqual({
      kind: 'wait',
      delayMs: 5,
      step: { offset: 3 },
    });
    expect(await applyDecision(h.deps, job.id, 'training', { kind: 'done' })).toEqual({ kind: 'done' });
    expect((await h.store.mustGet(job.id)).status).toBe('training');
  });
});

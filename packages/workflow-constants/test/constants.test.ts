import { APP_QUEUES, defaultTimings, isTerminal, JOB_STATUSES, QUEUES, stageJobId, stagePayloadSchema } from '../src';

describe('workflow constants', () => {
  it('gives every queue to exactly one app', () => {
    const consumed = Object.values(APP_QUEUES).flat();
    expect([...consumed].sort()).toEqual(Object.values(QUEUES).sort());
  });

  it('makes BullMQ job ids without colons (BullMQ forbids them)', () => {
    expect(stageJobId(QUEUES.staging_in, 'j00abc', 2)).toBe('j00abc.stage-in.2');
    expect(stageJobId(QUEUES.training, 'j00abc')).not.toContain(':');
  });

  it('knows which statuses are final', () => {
    expect(JOB_STATUSES.filter(isTerminal)).toEqual(['succeeded', 'failed', 'cancelled']);
  });

  it('accepts only ids and scalar step state in stage payloads', () => {
    expect(stagePayloadSchema.parse({ jobId: 'j00mx0lns343781xuafcv76' })).toEqual({ jobId: 'j00mx0lns343781xuafcv76', step: {} });
    expect(stagePayloadSchema.safeParse({ jobId: 'a:b' }).success).toBe(false);
    expect(stagePayloadSchema.safeParse({ jobId: 'j00mx0lns343781xuafcv76', step: { nested: { no: 1 } } }).success).toBe(false);
  });

  it('lets a boot wait far longer than a poll', () => {
    const timings = defaultTimings();
    expect(timings.bootDeadlineMs).toBeGreaterThan(10 * timings.bootPollMs);
  });
});

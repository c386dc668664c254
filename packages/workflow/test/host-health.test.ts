import { createLogger, InfrastructureError, InnoError } from '@inno-train/core';
import type { JobRecord } from '@inno-train/schemas';
import {
  awaitsCloudVerdict,
  CLOUD_VERDICT_WAIT_MS,
  cloudSaysDown,
  decideHostTrouble,
  GONE_CHECKS,
  isHostTrouble,
  onHost,
  restartsLeft,
  withoutHostTrouble,
} from '../src';
import { liveInstance, openHarness } from './harness';

const refused = new InfrastructureError('ssh_unreachable', 'Cannot reach ubuntu@10.0.0.1:22: connect ECONNREFUSED', {
  retryable: true,
  details: { code: 'ECONNREFUSED' },
});
const lost = new InfrastructureError('ssh_connection_lost', 'Connection to ubuntu@10.0.0.1:22 was lost during upload', {
  retryable: true,
  details: {},
});
const silent = new InfrastructureError('ssh_timeout', 'ubuntu@10.0.0.1:22 stopped answering', { retryable: true, details: {} });

describe('deciding what host trouble means (pure)', () => {
  const now = 1_000_000;
  const graceMs = 60_000;

  it.each([
    ['a failure of the work itself', new InnoError('input_transfer_failed', 'bad input'), {}],
    ['a non-retryable SSH failure (auth, host key)', new InfrastructureError('ssh_auth_failed', 'denied', { retryable: false }), {}],
    [
      'a retryable failure that is not the host (S3, Redis)',
      new InfrastructureError('storage_unavailable', 'S3 down', { retryable: true }),
      {},
    ],
    ['a plain Error', new Error('bug'), {}],
  ])('leaves %s to the worker', (_name, error, step) => {
    expect(decideHostTrouble({ error, step, now, graceMs })).toEqual({ kind: 'not_host_trouble' });
    expect(isHostTrouble(error)).toBe(false);
  });

  it('waits on the first trouble and remembers when it started', () => {
    expect(decideHostTrouble({ error: lost, step: { phase: 'running' }, now, graceMs })).toEqual({
      kind: 'wait',
      first: true,
      step: { phase: 'running', unreachableSince: now, goneChecks: 0 },
    });
  });

  it(`calls a host lost after ${GONE_CHECKS} refused connections in a row`, () => {
    const first = decideHostTrouble({ error: refused, step: { unreachableSince: now - 10, goneChecks: 0 }, now, graceMs });
    expect(first).toMatchObject({ kind: 'wait', first: false, step: { goneChecks: 1 } });
    const second = decideHostTrouble({ error: refused, step: (first as { step: Record<string, number> }).step, now, graceMs });
    expect(second).toEqual({ kind: 'lost', why: 'refuses connections (ECONNREFUSED) 2 checks in a row' });
  });

  it('starts the refusal count over when the host answers otherwise in between', () => {
    const decision = decideHostTrouble({ error: silent, step: { unreachableSince: now - 10, goneChecks: 1 }, now, graceMs });
    expect(decision).toMatchObject({ kind: 'wait', step: { goneChecks: 0 } });
  });

  it('tolerates a silent host for the grace window, then calls it lost', () => {
    expect(decideHostTrouble({ error: silent, step: { unreachableSince: now - graceMs }, now, graceMs })).toMatchObject({ kind: 'wait' });
    expect(decideHostTrouble({ error: silent, step: { unreachableSince: now - graceMs - 1 }, now, graceMs })).toEqual({
      kind: 'lost',
      why: 'unreachable for 60 s',
    });
  });

  it('forgets the trouble once the host answered', () => {
    expect(withoutHostTrouble({ phase: 'running', offset: 5, unreachableSince: now, goneChecks: 1 })).toEqual({
      phase: 'running',
      offset: 5,
    });
  });

  it.each(['unhealthy', 'terminating', 'terminated', 'preempted'])('takes the cloud at its word when it says %s', (status) => {
    expect(cloudSaysDown({ instance: { status } as JobRecord['instance'] })).toBe(`reported ${status} by the cloud`);
  });

  it('counts each restart budget by its own cause', () => {
    const job = (retry: object, hostRestarts: number, preemptions: number) =>
      ({ spec: { retry }, hostRestarts, preemptions }) as unknown as JobRecord;
    expect(restartsLeft(job({ onHostLost: 2, onPreempted: 3 }, 3, 2), 'host_lost')).toBe(1);
    expect(restartsLeft(job({ onHostLost: 2, onPreempted: 3 }, 3, 2), 'preempted')).toBe(1);
    expect(restartsLeft(job({ onPreempted: 1 }, 0, 0), 'host_lost')).toBe(0);
    expect(restartsLeft(job({}, 0, 0), 'preempted')).toBe(0);
    // Only the cloud can tell a preemption: a job that restarts on nothing else waits for its word.
    expect(awaitsCloudVerdict(job({ onPreempted: 1 }, 0, 0), 0)).toBe(true);
    expect(awaitsCloudVerdict(job({ onPreempted: 1 }, 0, 0), CLOUD_VERDICT_WAIT_MS)).toBe(false);
    expect(awaitsCloudVerdict(job({ onPreempted: 1, onHostLost: 1 }, 0, 0), 0)).toBe(false);
    expect(awaitsCloudVerdict(job({ onPreempted: 1 }, 1, 1), 0)).toBe(false);
  });

  it.each(['booting', 'active'])('does not call a host down when the cloud says %s', (status) => {
    expect(cloudSaysDown({ instance: { status } as JobRecord['instance'] })).toBeNull();
    expect(cloudSaysDown({ instance: null })).toBeNull();
  });
});

describe('a stage step on a host in trouble (real Redis)', () => {
  const h = openHarness('hh');
  const { store } = h;
  const ctx = {
    deps: h.deps,
    stage: 'staging_in' as const,
    logger: createLogger({ name: 'test', level: 'silent' }),
    graceMs: 60_000,
    recheckMs: 123,
  };
  const saved = () => h.saved({ status: 'staging_in', instance: { ...liveInstance, ip: '10.0.0.1' } });

  afterAll(() => h.close());

  it('fails the job with host_lost at once when the cloud reports its instance down, without touching the host', async () => {
    const job = await saved();
    job.instance!.status = 'unhealthy';
    const work = jest.fn();
    expect(await onHost(ctx, job, {}, work)).toEqual({ kind: 'done' });
    expect(work).not.toHaveBeenCalled();
    expect((await store.mustGet(job.id)).error).toMatchObject({
      code: 'host_lost',
      stage: 'staging_in',
      message: expect.stringContaining('reported unhealthy by the cloud'),
    });
  });

  it('records one unreachable event, re-checks soon, and starts over on a new host when the job allows it', async () => {
    const job = await saved();
    job.spec.retry = { onHostLost: 1 };
    await store.update(job.id, (current) => ({ ...current, spec: job.spec }));
    const first = await onHost(ctx, job, { phase: 'running' }, () => Promise.reject(refused));
    expect(first).toMatchObject({ kind: 'wait', delayMs: 123, step: { phase: 'running', goneChecks: 1 } });
    const second = await onHost(ctx, job, (first as { step: Record<string, number> }).step, () => Promise.reject(refused));
    expect(second).toEqual({ kind: 'done' });
    const after = await store.mustGet(job.id);
    expect(after).toMatchObject({ status: 'provisioning', instance: null, hostRestarts: 1 });
    expect(after.retiredInstances?.[0]).toMatchObject({ id: 'i-1', retiredReason: expect.stringContaining('refuses connections') });
    const events = await store.events(job.id);
    expect(events.filter((e) => e.type === 'unreachable')).toHaveLength(1);
    expect(events.slice(-2)).toEqual([
      expect.objectContaining({ type: 'retry', stage: 'staging_in' }),
      expect.objectContaining({
        type: 'status',
        stage: 'staging_in',
        data: { status: 'provisioning', from: 'staging_in', transition: 'host_lost_restart', cause: 'host_lost', restart: 1 },
      }),
    ]);
  });

  it('spends retry.onPreempted, not retry.onHostLost, when the cloud reports the instance preempted', async () => {
    const job = await saved();
    job.spec.retry = { onPreempted: 1 };
    job.instance!.status = 'preempted';
    await store.update(job.id, (current) => ({ ...current, spec: job.spec, instance: job.instance }));
    const work = jest.fn();
    expect(await onHost(ctx, job, {}, work)).toEqual({ kind: 'done' });
    expect(work).not.toHaveBeenCalled();
    expect(await store.mustGet(job.id)).toMatchObject({ status: 'provisioning', hostRestarts: 1, preemptions: 1, error: null });
    expect((await store.events(job.id)).find((e) => e.type === 'retry')).toMatchObject({
      message: expect.stringMatching(
        /^Instance preempted \(host reported preempted by the cloud\); starting over on a new instance \(restart 1 of 1\)$/,
      ),
      data: { cause: 'preempted', restart: 1, of: 1 },
    });
  });

  it('waits for the cloud to say why a host refusing SSH is gone when only a preemption would restart the job', async () => {
    const job = await saved();
    job.spec.retry = { onPreempted: 1 };
    await store.update(job.id, (current) => ({ ...current, spec: job.spec }));
    const lostStep = { goneChecks: 1, unreachableSince: Date.now() - 1000 };
    const waiting = await onHost(ctx, job, lostStep, () => Promise.reject(refused));
    expect(waiting).toMatchObject({ kind: 'wait', delayMs: 123, step: { lostSince: expect.any(Number) } });
    expect((await store.mustGet(job.id)).status).toBe('staging_in');

    // The cloud watch records the preemption: the next check restarts the job on the preemption budget.
    await store.update(job.id, (current) => ({ ...current, instance: { ...current.instance!, status: 'preempted' } }));
    expect(await onHost(ctx, job, (waiting as { step: Record<string, number> }).step, () => Promise.reject(refused))).toEqual({
      kind: 'done',
    });
    expect(await store.mustGet(job.id)).toMatchObject({ status: 'provisioning', preemptions: 1 });
  });

  it('fails with host_lost once the cloud has had its time and said nothing about a preemption', async () => {
    const job = await saved();
    job.spec.retry = { onPreempted: 1 };
    await store.update(job.id, (current) => ({ ...current, spec: job.spec }));
    const step = { goneChecks: 1, unreachableSince: Date.now() - 1000, lostSince: Date.now() - CLOUD_VERDICT_WAIT_MS - 1 };
    expect(await onHost(ctx, job, step, () => Promise.reject(refused))).toEqual({ kind: 'done' });
    expect(await store.mustGet(job.id)).toMatchObject({ status: 'failed', hostRestarts: 0, error: { code: 'host_lost' } });
  });

  it('passes other failures through and the step without the trouble counters to the work', async () => {
    const job = await saved();
    const seen: unknown[] = [];
    await expect(
      onHost(ctx, job, { phase: 'running', unreachableSince: 1, goneChecks: 1 }, async (step) => {
        seen.push(step);
        throw new InnoError('input_transfer_failed', 'nope');
      }),
    ).rejects.toMatchObject({ code: 'input_transfer_failed' });
    expect(seen).toEqual([{ phase: 'running' }]);
  });
});

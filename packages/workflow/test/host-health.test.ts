import { createLogger, InfrastructureError, InnoError } from '@inno-train/core';
import { Redis } from 'ioredis';
import { createJobStore, newJobId } from '@inno-train/job-store';
import type { JobRecord } from '@inno-train/schemas';
import { closeStageQueues, cloudSaysDown, decideHostTrouble, GONE_CHECKS, isHostTrouble, onHost, openStageQueues, withoutHostTrouble } from '../src';

const refused = new InfrastructureError('ssh_unreachable', 'Cannot reach ubuntu@10.0.0.1:22: connect ECONNREFUSED', { retryable: true, details: { code: 'ECONNREFUSED' } });
const lost = new InfrastructureError('ssh_connection_lost', 'Connection to ubuntu@10.0.0.1:22 was lost during upload', { retryable: true, details: {} });
const silent = new InfrastructureError('ssh_timeout', 'ubuntu@10.0.0.1:22 stopped answering', { retryable: true, details: {} });

describe('deciding what host trouble means (pure)', () => {
  const now = 1_000_000;
  const graceMs = 60_000;

  it.each([
    ['a failure of the work itself', new InnoError('input_transfer_failed', 'bad input'), {}],
    ['a non-retryable SSH failure (auth, host key)', new InfrastructureError('ssh_auth_failed', 'denied', { retryable: false }), {}],
    ['a retryable failure that is not the host (S3, Redis)', new InfrastructureError('storage_unavailable', 'S3 down', { retryable: true }), {}],
    ['a plain Error', new Error('bug'), {}],
  ])('leaves %s to the worker', (_name, error, step) => {
    expect(decideHostTrouble({ error, step, now, graceMs })).toEqual({ kind: 'not_host_trouble' });
    expect(isHostTrouble(error)).toBe(false);
  });

  it('waits on the first trouble and remembers when it started', () => {
    expect(decideHostTrouble({ error: lost, step: { phase: 'running' }, now, graceMs })).toEqual({
      kind: 'wait', first: true, step: { phase: 'running', unreachableSince: now, goneChecks: 0 },
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
    expect(decideHostTrouble({ error: silent, step: { unreachableSince: now - graceMs - 1 }, now, graceMs })).toEqual({ kind: 'lost', why: 'unreachable for 60 s' });
  });

  it('forgets the trouble once the host answered', () => {
    expect(withoutHostTrouble({ phase: 'running', offset: 5, unreachableSince: now, goneChecks: 1 })).toEqual({ phase: 'running', offset: 5 });
  });

  it.each(['unhealthy', 'terminating', 'terminated', 'preempted'])('takes the cloud at its word when it says %s', (status) => {
    expect(cloudSaysDown({ instance: { status } as JobRecord['instance'] })).toBe(`reported ${status} by the cloud`);
  });

  it.each(['booting', 'active'])('does not call a host down when the cloud says %s', (status) => {
    expect(cloudSaysDown({ instance: { status } as JobRecord['instance'] })).toBeNull();
    expect(cloudSaysDown({ instance: null })).toBeNull();
  });
});

describe('a stage step on a host in trouble (real Redis)', () => {
  const namespace = `t-hh-${process.pid}-${Date.now()}`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const queues = openStageQueues({ connection: redis, prefix: `{${namespace}}` });
  const store = createJobStore({ redis, namespace });
  const ctx = { deps: { store, queues }, stage: 'staging_in' as const, logger: createLogger({ name: 'test', level: 'silent' }), graceMs: 60_000, recheckMs: 123 };

  afterAll(async () => {
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await closeStageQueues(queues);
    const keys = await redis.keys(`${namespace}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  async function saved(patch: Partial<JobRecord> = {}): Promise<JobRecord> {
    const now = new Date().toISOString();
    const job: JobRecord = {
      id: newJobId(), name: null, status: 'staging_in', createdAt: now, updatedAt: now, startedAt: now, finishedAt: null,
      spec: { instance: { type: 'gpu_1x_a10' }, inputs: {}, script: { inline: 'print(1)', filename: 'train.py' }, command: 'python3 train.py', outputUri: 's3://b/o/' },
      instance: { id: 'i-1', type: 'gpu_1x_a10', region: 'us-east-1', ip: '10.0.0.1', status: 'active', launchedAt: now, terminatedAt: null, priceCentsPerHour: 75 },
      progress: null, outputs: [], error: null, pendingError: null, cancelRequested: false,
      createdBy: null, training: { startedAt: null, exitCode: null }, metadata: {}, ...patch,
    };
    await store.create(job, { at: now, type: 'status', stage: 'submit', message: 'Job submitted' });
    return job;
  }

  it('fails the job with host_lost at once when the cloud reports its instance down, without touching the host', async () => {
    const job = await saved();
    job.instance!.status = 'unhealthy';
    const work = jest.fn();
    expect(await onHost(ctx, job, {}, work)).toEqual({ kind: 'done' });
    expect(work).not.toHaveBeenCalled();
    expect((await store.mustGet(job.id)).error).toMatchObject({ code: 'host_lost', stage: 'staging_in', message: expect.stringContaining('reported unhealthy by the cloud') });
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
    expect(events.some((e) => e.type === 'retry' && e.stage === 'staging_in')).toBe(true);
  });

  it('passes other failures through and the step without the trouble counters to the work', async () => {
    const job = await saved();
    const seen: unknown[] = [];
    await expect(onHost(ctx, job, { phase: 'running', unreachableSince: 1, goneChecks: 1 }, async (step) => {
      seen.push(step);
      throw new InnoError('input_transfer_failed', 'nope');
    })).rejects.toMatchObject({ code: 'input_transfer_failed' });
    expect(seen).toEqual([{ phase: 'running' }]);
  });
});

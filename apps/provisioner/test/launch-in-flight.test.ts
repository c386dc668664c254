import { isoNow } from '@inno-train/core';
import { settledAt, type JobRecord } from '@inno-train/schemas';
import { cancelJob } from '@inno-train/workflow';
import type { CloudInstance, CloudLaunchRequest } from '@inno-train/cloud-port';
import { provisionStep, teardownStep } from '../src';
import { createJob, logger, openHarness, payloadOf, pendingFor, resetFakes, type Harness } from './harness';

/**
 * A cancel that lands while the provisioner is inside the launch call: teardown must not call the
 * job settled (its cost final) before the instance that launch makes is given back and confirmed.
 */

const MARKER_MAX_MS = 60_000;
const POLL_MS = 321;

let h: Harness;

beforeAll(() => {
  h = openHarness('in-flight', { terminatePollMs: POLL_MS, launchInFlightMaxMs: MARKER_MAX_MS });
});

beforeEach(() => {
  resetFakes(h);
  h.deps.lambda.types.gpu_1x_a10!.regions_with_capacity_available = [{ name: 'us-east-1' }];
});

afterEach(() => {
  jest.restoreAllMocks();
});

afterAll(async () => {
  await h.close();
});

type Step = Record<string, number | string | boolean>;
const store = () => h.deps.store;
const provision = (jobId: string) => provisionStep(h.deps, payloadOf(jobId), logger);
const teardown = (jobId: string, step: Step = {}) => teardownStep(h.deps, payloadOf(jobId, step), logger);
const settledEvents = async (jobId: string) => (await store().events(jobId)).filter((e) => e.type === 'settled');

/** Runs `during` inside the fake cloud's launch call, before it creates the instance and answers. */
function duringLaunch(during: (request: CloudLaunchRequest) => Promise<void>): void {
  const lambda = h.deps.lambda;
  const launch = lambda.launch.bind(lambda);
  lambda.launch = async (request) => {
    await during(request);
    return launch(request);
  };
}

/** The clock, `ms` from now: only Date.now moves (no sleeps); Redis and the queues are untouched by it. */
function clockAhead(ms: number): void {
  const real = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => real() + ms);
}

/** The instance a launch made, as the cloud lists it (tagged with the job). */
function listedInstance(id: string, jobId: string): CloudInstance {
  return {
    id,
    status: 'booting',
    region: { name: 'us-east-1' },
    instance_type: { name: 'gpu_1x_a10', price_cents_per_hour: 75 },
    tags: [
      { key: 'inno-train:job', value: jobId },
      { key: 'inno-train:launched-at', value: isoNow() },
      { key: 'inno-train:attempt', value: '1' },
    ],
  };
}

function asWait(outcome: Awaited<ReturnType<typeof teardown>>): Step {
  expect(outcome).toMatchObject({ kind: 'wait', delayMs: POLL_MS });
  if (outcome.kind !== 'wait') throw new Error('unreachable');
  return outcome.step as Step;
}

describe('a job cancelled while its launch call is in flight', () => {
  it('is not settled until the instance that launch made is recorded, terminated and confirmed, then settles once', async () => {
    const job = await createJob(store());
    let duringCall: { record: JobRecord; step: Step } | null = null;
    duringLaunch(async () => {
      await cancelJob(h.deps, job.id);
      // Teardown runs before the launch answers: the cloud lists nothing tagged with the job yet.
      const step = asWait(await teardown(job.id));
      duringCall = { record: await store().mustGet(job.id), step };
    });

    expect(await provision(job.id)).toEqual({ kind: 'done' });

    expect(duringCall).not.toBeNull();
    const { record: during, step: afterFirstPoll } = duringCall!;
    expect(during.status).toBe('cancelled');
    expect(during.launchInFlightSince).toEqual(expect.any(String));
    expect(during.settledAt).toBeNull();
    expect(settledAt(during)).toBeNull();
    expect(await settledEvents(job.id)).toHaveLength(0);

    // The launch answered: the instance is saved with the marker cleared, and given back at once.
    const [instanceId] = [...h.deps.lambda.instances.keys()];
    expect(h.deps.lambda.terminations).toEqual([[instanceId]]);
    const recorded = await store().mustGet(job.id);
    expect(recorded.instance).toMatchObject({ id: instanceId, terminatedAt: null, terminateRequestedAt: expect.any(String) });
    expect(recorded.launchInFlightSince).toBeNull();
    expect(settledAt(recorded)).toBeNull();

    // Lambda still shows it: teardown waits, and does not settle.
    const next = asWait(await teardown(job.id, afterFirstPoll));
    expect((await store().mustGet(job.id)).settledAt).toBeNull();
    expect(await settledEvents(job.id)).toHaveLength(0);

    h.deps.lambda.setInstance(instanceId!, { status: 'terminated' });
    expect(await teardown(job.id, next)).toEqual({ kind: 'done' });
    const settled = await store().mustGet(job.id);
    const confirmedAt = settled.instance!.terminatedAt!;
    expect(confirmedAt).toEqual(expect.any(String));
    expect(Date.parse(settled.settledAt!)).toBeGreaterThanOrEqual(Date.parse(confirmedAt));
    expect(settledAt(settled)).toBe(settled.settledAt);
    expect(await settledEvents(job.id)).toHaveLength(1);

    // Any further run (the enqueued per-instance teardown, a redelivery) changes nothing.
    expect(await teardown(job.id)).toEqual({ kind: 'done' });
    expect((await store().mustGet(job.id)).settledAt).toBe(settled.settledAt);
    expect(await settledEvents(job.id)).toHaveLength(1);
  });

  it('settles after giving back an instance teardown found by its tags before the launch answer was saved', async () => {
    const job = await createJob(store());
    let id = '';
    const lambda = h.deps.lambda;
    const launch = lambda.launch.bind(lambda);
    lambda.launch = async (request) => {
      await cancelJob(h.deps, job.id);
      const answer = await launch(request);
      id = answer.instanceIds[0]!;
      // The cloud lists the new instance and teardown polls before the provisioner saves the answer.
      lambda.listed = [listedInstance(id, job.id)];
      expect(await teardown(job.id)).toMatchObject({ kind: 'wait' });
      return answer;
    };

    expect(await provision(job.id)).toEqual({ kind: 'done' });
    const stored = await store().mustGet(job.id);
    // Recorded once (as teardown adopted it), not also as the job's instance, and not called surplus.
    expect(stored.instance).toBeNull();
    expect(stored.retiredInstances.map((i) => i.id)).toEqual([id]);
    expect(stored.launchInFlightSince).toBeNull();
    expect(lambda.terminations).toEqual([[id]]);
    expect((await store().events(job.id)).some((e) => e.message.includes('surplus'))).toBe(false);
    expect(stored.settledAt).toBeNull();

    lambda.setInstance(id, { status: 'terminated' });
    expect(await teardown(job.id, { polls: 1 })).toEqual({ kind: 'done' });
    const settled = await store().mustGet(job.id);
    expect(Date.parse(settled.settledAt!)).toBeGreaterThanOrEqual(Date.parse(settled.retiredInstances[0]!.terminatedAt!));
    expect(await settledEvents(job.id)).toHaveLength(1);
  });
});

describe('a launch marker left by a worker that died mid-launch', () => {
  /** A cancelled job whose launch marker was set `agoMs` ago and never cleared. */
  async function cancelledWithMarker(agoMs = 0) {
    const job = await createJob(store());
    await store().update(job.id, (j) => ({
      ...j,
      status: 'cancelled',
      cancelRequested: true,
      finishedAt: isoNow(),
      settledAt: null,
      launchInFlightSince: isoNow(Date.now() - agoMs),
    }));
    return job.id;
  }

  it('keeps teardown from settling until the deadline, then settles once and clears the marker in the same write', async () => {
    const jobId = await cancelledWithMarker();
    let lists = 0;
    const list = h.deps.lambda.listInstances.bind(h.deps.lambda);
    h.deps.lambda.listInstances = async () => {
      lists++;
      return list();
    };

    let step = asWait(await teardown(jobId));
    step = asWait(await teardown(jobId, step));
    expect(lists).toBe(2);
    expect((await store().mustGet(jobId)).settledAt).toBeNull();

    clockAhead(MARKER_MAX_MS);
    expect(await teardown(jobId, step)).toEqual({ kind: 'done' });
    // It looked for the dead worker's instance once more before settling.
    expect(lists).toBe(3);
    const settled = await store().mustGet(jobId);
    expect(settled.launchInFlightSince).toBeNull();
    expect(settled.settledAt).toEqual(expect.any(String));
    const events = await store().events(jobId);
    const [stale, done] = events.slice(-2);
    expect(stale).toMatchObject({
      type: 'teardown',
      stage: 'teardown',
      message: expect.stringContaining('did not report back within 60 s'),
    });
    expect(done).toMatchObject({ type: 'settled', stage: 'teardown' });
    expect(await settledEvents(jobId)).toHaveLength(1);

    expect(await teardown(jobId)).toEqual({ kind: 'done' });
    expect(await store().events(jobId)).toHaveLength(events.length);
  });

  it('finds the instance the dead worker launched on a later poll, gives it back, and settles only past the deadline', async () => {
    const jobId = await cancelledWithMarker();
    const lambda = h.deps.lambda;
    let step = asWait(await teardown(jobId));
    expect(lambda.terminations).toHaveLength(0);

    // The launch call had made it; the cloud lists it now. Poll 1 is not a re-terminate poll, but an
    // instance never asked to terminate is asked at once.
    lambda.listed = [listedInstance('i-dead-worker', jobId)];
    lambda.setInstance('i-dead-worker', { status: 'booting' });
    step = asWait(await teardown(jobId, step));
    expect(lambda.terminations).toEqual([['i-dead-worker']]);
    expect((await store().mustGet(jobId)).retiredInstances).toEqual([
      expect.objectContaining({ id: 'i-dead-worker', terminatedAt: null, terminateRequestedAt: expect.any(String) }),
    ]);
    expect((await store().events(jobId)).some((e) => e.message === 'Terminating instance i-dead-worker')).toBe(true);

    // Confirmed terminated, but the marker is young: another launch answer may still come.
    lambda.setInstance('i-dead-worker', { status: 'terminated' });
    step = asWait(await teardown(jobId, step));
    const confirmed = await store().mustGet(jobId);
    expect(confirmed.retiredInstances[0]!.terminatedAt).toEqual(expect.any(String));
    expect(confirmed.settledAt).toBeNull();

    clockAhead(MARKER_MAX_MS + 1);
    expect(await teardown(jobId, step)).toEqual({ kind: 'done' });
    const settled = await store().mustGet(jobId);
    expect(settled.launchInFlightSince).toBeNull();
    expect(Date.parse(settled.settledAt!)).toBeGreaterThan(Date.parse(confirmed.retiredInstances[0]!.terminatedAt!));
    expect(settled.retiredInstances).toHaveLength(1);
    expect(await settledEvents(jobId)).toHaveLength(1);
  });
});

describe('the launch marker on the provisioning side', () => {
  it('refuses to launch for a job cancelled before the marker is written, and makes sure teardown is queued', async () => {
    const job = await createJob(store());
    const lambda = h.deps.lambda;
    const types = lambda.listInstanceTypes.bind(lambda);
    // The cancel lands after provisioning read the job, just before the launch is marked.
    lambda.listInstanceTypes = async () => {
      await cancelJob(h.deps, job.id);
      await h.queues.teardown.obliterate({ force: true });
      return types();
    };

    expect(await provision(job.id)).toEqual({ kind: 'done' });
    expect(lambda.launches).toHaveLength(0);
    const stored = await store().mustGet(job.id);
    expect(stored.status).toBe('cancelled');
    expect(stored.launchInFlightSince ?? null).toBeNull();
    expect(stored.instance).toBeNull();
    // As if the cancel died before queueing teardown (the queue was emptied above).
    expect(await pendingFor(h.queues, 'teardown', job.id)).toHaveLength(1);
  });

  it('clears the marker with the saved answer, and says the job is not settled until teardown says so', async () => {
    const job = await createJob(store());
    let during: { since?: string | null; settledAt?: string | null } = {};
    duringLaunch(async () => {
      const current = await store().mustGet(job.id);
      during = { since: current.launchInFlightSince, settledAt: current.settledAt };
    });
    expect(await provision(job.id)).toMatchObject({ kind: 'wait' });
    expect(during.since).toEqual(expect.any(String));
    expect(during.settledAt).toBeNull();
    const stored = await store().mustGet(job.id);
    expect(stored.instance).not.toBeNull();
    expect(stored.launchInFlightSince).toBeNull();
    expect(stored.settledAt).toBeNull();
  });

  it('clears the marker when every place turns the launch down for capacity', async () => {
    const job = await createJob(store());
    h.deps.lambda.types.gpu_1x_a10!.regions_with_capacity_available = [{ name: 'us-east-1' }, { name: 'us-west-1' }];
    h.deps.lambda.onLaunch = async () => {
      throw { code: 'instance-operations/launch/insufficient-capacity', message: 'Not enough capacity' };
    };
    expect(await provision(job.id)).toEqual({ kind: 'done' });
    expect(h.deps.lambda.launches).toHaveLength(2);
    const stored = await store().mustGet(job.id);
    expect(stored.error?.code).toBe('no_capacity');
    expect(stored.launchInFlightSince).toBeNull();
  });

  it('clears the marker when the launch fails with a known outcome, and keeps it when the outcome is unknown', async () => {
    const refused = await createJob(store());
    h.deps.lambda.onLaunch = async () => {
      throw { code: 'global/invalid-parameters', message: 'bad request' };
    };
    await expect(provision(refused.id)).rejects.toMatchObject({ code: 'global/invalid-parameters' });
    expect((await store().mustGet(refused.id)).launchInFlightSince).toBeNull();

    // A timeout may have launched it: only the tags can tell, so it stays in flight until they do.
    const unknown = await createJob(store());
    h.deps.lambda.onLaunch = async () => {
      throw { code: 'lambda/timeout', message: 'no answer', outcomeUnknown: true };
    };
    await expect(provision(unknown.id)).rejects.toMatchObject({ code: 'lambda/timeout' });
    expect((await store().mustGet(unknown.id)).launchInFlightSince).toEqual(expect.any(String));

    // The retry finds the instance by its tags and saves it: that answers the launch.
    h.deps.lambda.onLaunch = null;
    h.deps.lambda.listed = [listedInstance('i-timed-out', unknown.id)];
    expect(await provision(unknown.id)).toMatchObject({ kind: 'wait' });
    const adopted = await store().mustGet(unknown.id);
    expect(adopted.instance?.id).toBe('i-timed-out');
    expect(adopted.launchInFlightSince).toBeNull();
    expect(h.deps.lambda.launches).toHaveLength(2);
  });
});

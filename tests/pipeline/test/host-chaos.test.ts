/**
 * Host chaos: the job's host dies at every SSH operation of every stage, with that operation in
 * flight (the host blocks inside it until it is killed: test-kit's chaos hook). Each time the job
 * ends as it must (host_lost, a relaunch after a bad boot, a restart when the job asked for one, or
 * cancelled), its instance is terminated, and no worker waited on the dead connection until a
 * timeout: the operation ended because its connection did.
 */
import { readFileSync } from 'node:fs';
import {
  EXTRA_POINTS,
  getEvents,
  getRecord,
  HOST_CHAOS_ENV,
  inBatches,
  KILL_POINTS,
  runKillPoint,
  startStack,
  type KillPointRun,
  type Stack,
} from '../src';

jest.setTimeout(600_000);

let stack: Stack;
const runs = new Map<string, KillPointRun>();

beforeAll(async () => {
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.1.', hostChaos: true, extraEnv: HOST_CHAOS_ENV });
  const points = [...KILL_POINTS, ...EXTRA_POINTS];
  const results = await inBatches(points, 6, (point) => runKillPoint(stack, point, 90_000));
  points.forEach((point, i) => runs.set('label' in point ? String(point.label) : point.name, results[i]!));
  process.stdout.write(
    `host chaos: death -> termination (ms): ${[...runs].map(([label, run]) => `${label} ${run.msToTermination}`).join('; ')}\n`,
  );
});

afterAll(async () => {
  await stack?.stop();
});

/** SSH sessions the workers logged (debug) for one host: label, error code, duration. */
function sessionsTo(ip: string): { label?: string; errorCode?: string; ms: number; ok: boolean }[] {
  return stack.apps
    .filter((app) => app.app !== 'api')
    .flatMap((app) => readFileSync(app.logFile, 'utf8').split('\n'))
    .filter((line) => line.includes('"msg":"ssh session"'))
    .map((line) => JSON.parse(line).ssh)
    .filter((session) => session.host === ip);
}

/** Every instance launched for the job, whichever attempt, was terminated (the cloud's ledger). */
function expectEveryInstanceTerminated(jobId: string): void {
  const launched = stack.lambda.state.ledger().filter((e) => e.jobTag === jobId);
  expect(launched.length).toBeGreaterThan(0);
  expect(launched.filter((e) => e.terminatedAt === undefined)).toEqual([]);
}

function expectNoWaitOnDeadConnection(run: KillPointRun): void {
  const ip = (run.job.retiredInstances ?? [])
    .concat(run.job.instance ? [run.job.instance] : [])
    .find((i: { id: string }) => i.id === run.instanceId)?.ip;
  expect(ip).toEqual(expect.any(String));
  const failed = sessionsTo(ip).filter((s) => !s.ok);
  // The operation the host died in ended because its connection ended, not by a timeout.
  expect(failed.map((s) => s.errorCode)).toContain('ssh_connection_lost');
  expect(failed.filter((s) => s.errorCode === 'ssh_timeout')).toEqual([]);
}

describe('a host that dies in the middle of an SSH operation', () => {
  const lostPoints = KILL_POINTS.filter((p) => p.expect === 'host_lost');

  it.each(lostPoints.map((p) => [p.name]))('during %s: the job fails with host_lost and the instance is terminated', async (name) => {
    const run = runs.get(name)!;
    expect(run.job.status).toBe('failed');
    expect(run.job.error).toMatchObject({ code: 'host_lost', message: expect.stringMatching(/refuses connections/) });
    expect(stack.lambda.state.instance(run.instanceId)?.status).toBe('terminated');
    expectNoWaitOnDeadConnection(run);
  });

  it('during the boot GPU check: the instance is given back as a bad boot and the job succeeds on a new one', async () => {
    const run = runs.get('boot:gpu-check')!;
    expect(run.job.status).toBe('succeeded');
    expect((await getRecord(stack, run.jobId)).retiredInstances).toEqual([
      expect.objectContaining({ id: run.instanceId, retiredReason: expect.stringContaining('GPU check failed') }),
    ]);
    expect(run.job.instance.id).not.toBe(run.instanceId);
    expectEveryInstanceTerminated(run.jobId);
    expectNoWaitOnDeadConnection(run);
  });

  it("during teardown's stop of a cancelled job's training: the job ends cancelled and the instance is terminated", async () => {
    const run = runs.get('teardown:stop-training')!;
    expect(run.job.status).toBe('cancelled');
    expect(stack.lambda.state.instance(run.instanceId)?.status).toBe('terminated');
    expectNoWaitOnDeadConnection(run);
  });

  it('with retry.onHostLost: the job starts over on a new instance and succeeds', async () => {
    const run = runs.get('train:start (retry.onHostLost)')!;
    expect(run.job.status).toBe('succeeded');
    expect(
      (await getEvents(stack, run.jobId)).filter((e) => e.message.includes('starting over on a new instance (restart 1 of 1)')),
    ).toHaveLength(1);
    expect(run.job.retiredInstances).toEqual([expect.objectContaining({ id: run.instanceId })]);
    expectEveryInstanceTerminated(run.jobId);
    expectNoWaitOnDeadConnection(run);
  });
});

describe('a host that stops answering in the middle of a stage start (its files on the way)', () => {
  it('is tolerated for the grace window, then the job fails with host_lost and the instance is terminated', async () => {
    const run = runs.get('stage-in:start (host hangs)')!;
    expect(run.job.status).toBe('failed');
    expect(run.job.error).toMatchObject({
      code: 'host_lost',
      stage: 'staging_in',
      message: expect.stringMatching(/unreachable for \d+ s/),
    });
    expect(stack.lambda.state.instance(run.instanceId)?.status).toBe('terminated');
    const events = await getEvents(stack, run.jobId);
    const unreachable = events.find((e) => e.type === 'unreachable');
    const failed = events.find((e) => e.type === 'error' && e.message.startsWith('host_lost'));
    // The keepalives noticed the silence (not the upload's own timeout), and the grace was given in full.
    expect(unreachable?.message).toMatch(/stopped answering \(SSH keepalives unanswered\)/);
    expect(Date.parse(failed!.at) - Date.parse(unreachable!.at)).toBeGreaterThanOrEqual(Number(HOST_CHAOS_ENV.UNREACHABLE_GRACE_MS));
  });
});

describe('a host the cloud reports unhealthy while SSH waits on it', () => {
  it('is lost as soon as the cloud watch sees it, without waiting out the grace window', async () => {
    const run = runs.get('train:poll (host hangs, cloud says unhealthy)')!;
    expect(run.job.status).toBe('failed');
    expect(run.job.error).toMatchObject({
      code: 'host_lost',
      stage: 'training',
      message: expect.stringContaining('reported unhealthy by the cloud'),
    });
    expect(stack.lambda.state.instance(run.instanceId)?.status).toBe('terminated');
    expect(
      (await getEvents(stack, run.jobId)).some((e) => e.message === `Instance ${run.instanceId} is unhealthy according to the cloud`),
    ).toBe(true);
  });
});

/**
 * The shared SSH connections and the shared view of the cloud, on the whole stack: a connection
 * killed under a running job is replaced without the job noticing, and the cloud's API failing
 * while a job trains never makes its live instance look gone.
 */
import { SshExecutor } from '@inno-train/ssh-executor';
import { waitFor } from '@inno-train/test-kit';
import { getEvents, getJob, startStack, submitJob, SSH_PORT, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(180_000);

/** Prints a line every 0.4 s for `steps` steps, then writes its output. */
const script = (steps: number) => String.raw`
import json, os, time
for step in range(1, ${steps} + 1):
    print(json.dumps({'step': step, 'total_steps': ${steps}}), flush=True)
    time.sleep(0.4)
open(os.path.join(os.environ['OUTPUT_DIR'], 'done.txt'), 'w').write('ok')
`;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 10,
    ipPrefix: '127.0.19.',
    extraEnv: { CLOUD_WATCH_MS: '500', TRAIN_POLL_MS: '500', LOG_LEVEL: 'debug' },
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** Waits until the job trains and its log shows `step` (the monitor has been talking to the host). */
async function trainingPast(id: string, step: number) {
  return waitFor(
    async () => {
      const job = await getJob(stack, id);
      return job.status === 'training' && (job.progress?.step ?? 0) >= step ? job : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 100, description: `job ${id} training past step ${step}` },
  );
}

/** The workers' logins to `ip` so far (their `ssh connection` debug lines). */
function loginsTo(ip: string): number {
  return stack
    .appLogs()
    .split('\n')
    .filter((line) => line.includes('"msg":"ssh connection"') && line.includes(`"host":"${ip}"`) && line.includes('"ok":true')).length;
}

/** Problems a host is never supposed to have had: trouble events, restarts, a down status. */
async function troubleOf(id: string) {
  const events = await getEvents(stack, id);
  return events.filter(
    (event) => ['unreachable', 'retry'].includes(event.type) || (event.type === 'instance' && /according to the cloud/.test(event.message)),
  );
}

describe('shared connections and the shared cloud view', () => {
  it('replaces a pooled SSH connection killed under a running job, and the job never notices', async () => {
    const id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: script(25), filename: 'train.py' } });
    const job = await trainingPast(id, 2);
    const ip = job.instance.ip as string;
    const before = loginsTo(ip);
    // Every sshd session process on the host dies (our own with them): the listener stays, as after
    // an sshd restart, and so does the training, which runs outside any session.
    const ssh = new SshExecutor();
    const target = {
      host: ip,
      port: SSH_PORT,
      username: 'ubuntu',
      privateKey: stack.secrets.sshPrivateKey,
      passphrase: stack.secrets.sshPassphrase,
    };
    await ssh.exec(target, "pkill -f '^sshd: ubuntu'", { timeoutMs: 10_000 }).catch(() => undefined);
    await ssh.close();

    const done = await waitForJobEnd(stack, id, 120_000);
    expect({ status: done.status, error: done.error, restarts: done.restarts }).toEqual({
      status: 'succeeded',
      error: null,
      restarts: { hostLost: 0, preempted: 0 },
    });
    expect(await troubleOf(id)).toEqual([]);
    // The monitor logged in again: the dead connection was dropped and replaced.
    expect(loginsTo(ip)).toBeGreaterThan(before);
    const log = (await stack.api(`/v1/jobs/${id}/logs`)).text;
    expect(log.match(/"step": \d+/g)).toHaveLength(25);
  });

  it('never calls a live instance gone while the cloud API fails, and the job goes on', async () => {
    const id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: script(25), filename: 'train.py' } });
    const job = await trainingPast(id, 2);
    const failuresBefore = stack.lambda.state.counters().injectedFailures;
    stack.lambda.state.faults.failRate = 1;
    try {
      // The cloud watch asks (and fails) several times while the job trains.
      await waitFor(() => stack.lambda.state.counters().injectedFailures >= failuresBefore + 4 || undefined, {
        timeoutMs: 30_000,
        intervalMs: 100,
        description: 'the cloud watch to be refused several times',
      });
      expect((await getJob(stack, id)).instance).toMatchObject({ id: job.instance.id, status: 'active' });
    } finally {
      stack.lambda.state.faults.failRate = 0;
    }
    const done = await waitForJobEnd(stack, id, 120_000);
    expect({ status: done.status, error: done.error, restarts: done.restarts }).toEqual({
      status: 'succeeded',
      error: null,
      restarts: { hostLost: 0, preempted: 0 },
    });
    expect(await troubleOf(id)).toEqual([]);
    expect(done.instance.terminatedAt).not.toBeNull();
  });
});

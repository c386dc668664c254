import { Redis } from 'ioredis';
import { createJobStore } from '@inno-train/job-store';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, getEvents, getJob, getObject, getRecord, startStack, submitJob, testS3Client, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(240_000);

const STEPS = 40;

/**
 * Counts to 40, a step each 0.5 s, printing each step it runs; after each one writes the checkpoint
 * `step-N/state.json` and its `.complete` marker. Started with RESUME_FROM, it reads the step there
 * and goes on from the next one. Its output `final.json` names the last step and where it started.
 */
const RESUMABLE_SCRIPT = String.raw`
import json, os, time
ck = os.environ['CHECKPOINT_DIR']
resume = os.environ.get('RESUME_FROM')
start = 0
if resume:
    with open(os.path.join(resume, 'state.json')) as f:
        start = json.load(f)['step']
print('resume_from=%s start=%d' % (resume or '-', start), flush=True)
last = start
for step in range(start + 1, ${STEPS} + 1):
    time.sleep(0.5)
    print('ran step %d' % step, flush=True)
    d = os.path.join(ck, 'step-%d' % step)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'state.json'), 'w') as f:
        json.dump({'step': step}, f)
    open(os.path.join(d, '.complete'), 'w').close()
    last = step
with open(os.path.join(os.environ['OUTPUT_DIR'], 'final.json'), 'w') as f:
    json.dump({'step': last, 'start': start}, f)
`;

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 10,
    ipPrefix: '127.0.12.',
    // A quick cloud watch: the preempted instance is seen as such within a second or two.
    extraEnv: { UNREACHABLE_GRACE_MS: '6000', CLOUD_WATCH_MS: '1000' },
    tenants: [{ name: 'team-other', allowedPrefixes: [`s3://${BUCKET}/`] }],
  });
  s3 = testS3Client(stack.s3);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

/**
 * The log as read from the hosts while they ran, both runs (the API serves the archived train.log
 * of the last host once the job has ended).
 */
async function storedLog(id: string): Promise<string> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    return await createJobStore({ redis, namespace: stack.namespace }).log(id);
  } finally {
    await redis.quit();
  }
}

type Listed = { data: { name: string; step?: number }[] };

let firstJob: string;

describe('resuming from a checkpoint', () => {
  it('restores the latest synced checkpoint on the new instance after the host dies, and the run goes on from there', async () => {
    const id = await submitJob(stack, {
      instance: { type: 'gpu_1x_a10' },
      script: { inline: RESUMABLE_SCRIPT, filename: 'train.py' },
      checkpoint: { syncSeconds: 5 },
      retry: { onHostLost: 1 },
    });
    firstJob = id;

    // Two checkpoints synced (verified in S3, listed by the API): the host dies, as with a kill -9 of the machine.
    const atKill = await waitFor(
      async () => {
        const listed = (await stack.api(`/v1/jobs/${id}/checkpoints`)).json as Listed;
        return listed.data.length >= 2 ? listed : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100, description: 'two checkpoints synced' },
    );
    const first = await getJob(stack, id);
    expect(first.status).toBe('training');
    await stack.hosts.get(first.instance.id)!.kill();
    const latestAtKill = Math.max(...atKill.data.map((checkpoint) => checkpoint.step ?? 0));

    const done = await waitForJobEnd(stack, id, 180_000);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });

    // A second instance ran it; both are terminated.
    expect(done.instance.id).not.toBe(first.instance.id);
    const ledger = stack.lambda.state.ledger().filter((entry) => entry.jobTag === id);
    expect(ledger).toHaveLength(2);
    expect(ledger.every((entry) => entry.terminatedAt)).toBe(true);

    // The second run started from the restored checkpoint: at least the latest listed when the host died.
    const log = await storedLog(id);
    const starts = [...log.matchAll(/^resume_from=(\S+) start=(\d+)$/gm)];
    expect(starts.map((match) => match[1]!.replace(/^.*\/checkpoints\//, ''))).toEqual(['-', expect.stringMatching(/^step-\d+$/)]);
    const restored = Number(starts[1]![2]);
    expect(starts[1]![1]).toMatch(new RegExp(`/inno-train/${id}/checkpoints/step-${restored}$`));
    expect(restored).toBeGreaterThanOrEqual(latestAtKill);
    const record = await getRecord(stack, id);
    expect(record.resumedFrom).toMatchObject({ name: `step-${restored}`, step: restored, kind: 'dir', files: 1 });
    const events = await getEvents(stack, id);
    expect(
      events.some(
        (event) =>
          event.type === 'transfer' &&
          event.message.startsWith(`Restoring checkpoint step-${restored} (1 files,`) &&
          event.message.includes(`into CHECKPOINT_DIR/step-${restored}`),
      ),
    ).toBe(true);

    // Steps run twice: those the first run got past the restored checkpoint (as far as its log was read).
    const secondAt = starts[1]!.index!;
    const firstRun = [...log.slice(0, secondAt).matchAll(/^ran step (\d+)$/gm)].map((match) => Number(match[1]));
    const secondRun = [...log.slice(secondAt).matchAll(/^ran step (\d+)$/gm)].map((match) => Number(match[1]));
    expect(secondRun[0]).toBe(restored + 1);
    expect(secondRun.at(-1)).toBe(STEPS);
    const reached = Math.max(...firstRun);
    const repeated = firstRun.filter((step) => step > restored).length;
    expect(repeated).toBeLessThanOrEqual(reached - latestAtKill);
    expect(new Set([...firstRun, ...secondRun]).size).toBe(STEPS);

    // The final output is the whole count, finished by the second run.
    const final = JSON.parse((await getObject(s3, BUCKET, `jobs/${id}/output/final.json`)).toString('utf8'));
    expect(final).toEqual({ step: STEPS, start: restored });

    // The restored entry was not synced again as new; the second run's own checkpoints were.
    expect(events.filter((event) => event.message.startsWith(`Checkpoint "step-${restored}" synced`))).toHaveLength(1);
    const listed = ((await stack.api(`/v1/jobs/${id}/checkpoints`)).json as Listed).data.map((checkpoint) => checkpoint.step);
    expect(listed).toContain(STEPS);

    console.log(
      `[checkpoint-resume] checkpoints listed at the kill: ${atKill.data.length} (latest step ${latestAtKill}); ` +
        `first run reached step ${reached} (as read from its log); restored step-${restored}; ` +
        `steps repeated: ${repeated} (at most ${reached - latestAtKill} allowed)`,
    );
  });
});

/** The log lines where each run started: the checkpoint path RESUME_FROM named (or -) and the step. */
function runStarts(log: string) {
  return [...log.matchAll(/^resume_from=(\S+) start=(\d+)$/gm)].map((match) => ({ from: match[1]!, start: Number(match[2]) }));
}

describe('resuming after a preemption, and from another job', () => {
  it('spends retry.onPreempted when the cloud takes the instance back, and resumes on the new one', async () => {
    const id = await submitJob(stack, {
      instance: { type: 'gpu_1x_a10' },
      script: { inline: RESUMABLE_SCRIPT, filename: 'train.py' },
      checkpoint: { syncSeconds: 5 },
      retry: { onPreempted: 1 },
    });
    await waitFor(async () => (((await stack.api(`/v1/jobs/${id}/checkpoints`)).json as Listed).data.length >= 1 ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 100,
      description: 'a checkpoint synced',
    });
    const first = await getJob(stack, id);
    await stack.lambda.state.preempt(first.instance.id);

    const done = await waitForJobEnd(stack, id, 180_000);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(done.restarts).toEqual({ hostLost: 0, preempted: 1 });
    expect(done.retiredInstances.map((instance: { id: string }) => instance.id)).toEqual([first.instance.id]);
    const ledger = stack.lambda.state.ledger().filter((entry) => entry.jobTag === id);
    expect(ledger).toHaveLength(2);
    expect(ledger.every((entry) => entry.terminatedAt || entry.preemptedAt)).toBe(true);
    const events = await getEvents(stack, id);
    expect(events.find((event) => event.type === 'retry')).toMatchObject({
      message: expect.stringMatching(/^Instance preempted \(host .*preempted.*\); starting over on a new instance \(restart 1 of 1\)$/),
      data: { cause: 'preempted', restart: 1, of: 1 },
    });
    const starts = runStarts(await storedLog(id));
    expect(starts).toHaveLength(2);
    expect(starts[1]!.start).toBeGreaterThanOrEqual(1);
    expect(done.checkpoints.restored).toEqual({ name: `step-${starts[1]!.start}`, step: starts[1]!.start });
    const final = JSON.parse((await getObject(s3, BUCKET, `jobs/${id}/output/final.json`)).toString('utf8'));
    expect(final).toEqual({ step: STEPS, start: starts[1]!.start });
  });

  it("starts a new job from another job's checkpoint before its first training start; another owner is refused", async () => {
    expect(firstJob).toBeDefined();
    const refused = await stack.api('/v1/jobs', {
      key: stack.secrets.tenantKeys['team-other']!,
      body: { instance: { type: 'gpu_1x_a10' }, script: { inline: 'print(1)', filename: 'train.py' }, resumeFrom: { jobId: firstJob } },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: 'invalid_input', message: `resumeFrom: job "${firstJob}" does not exist` });

    const id = await submitJob(stack, {
      instance: { type: 'gpu_1x_a10' },
      script: { inline: RESUMABLE_SCRIPT, filename: 'train.py' },
      checkpoint: { syncSeconds: 5 },
      resumeFrom: { jobId: firstJob, checkpoint: 'step-30' },
    });
    const done = await waitForJobEnd(stack, id, 120_000);
    expect({ status: done.status, error: done.error, restarts: done.restarts }).toEqual({
      status: 'succeeded',
      error: null,
      restarts: { hostLost: 0, preempted: 0 },
    });
    expect(done.checkpoints).toMatchObject({
      resumeFrom: { jobId: firstJob, name: 'step-30', step: 30 },
      restored: { name: 'step-30', step: 30 },
    });
    // One run, started at step 30 from the restored copy under this job's own CHECKPOINT_DIR.
    const log = await storedLog(id);
    expect(runStarts(log)).toEqual([{ from: expect.stringMatching(new RegExp(`/inno-train/${id}/checkpoints/step-30$`)), start: 30 }]);
    expect([...log.matchAll(/^ran step (\d+)$/gm)].map((match) => Number(match[1]))).toEqual(
      Array.from({ length: STEPS - 30 }, (_, i) => 31 + i),
    );
    const final = JSON.parse((await getObject(s3, BUCKET, `jobs/${id}/output/final.json`)).toString('utf8'));
    expect(final).toEqual({ step: STEPS, start: 30 });
    const events = await getEvents(stack, id);
    expect(events.some((event) => event.message.startsWith(`Restoring checkpoint step-30 of job ${firstJob} (1 files,`))).toBe(true);
    // The restored copy is not this job's checkpoint; the ones it wrote are.
    const listed = ((await stack.api(`/v1/jobs/${id}/checkpoints`)).json as Listed).data.map((checkpoint) => checkpoint.name);
    expect(listed).not.toContain('step-30');
    expect(listed).toContain(`step-${STEPS}`);
  });
});

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, getEvents, getJob, getObject, putObject, startStack, testS3Client, waitForJobEnd, type Stack } from '../src';
import type { AppName } from '../src/processes';

jest.setTimeout(420_000);

/**
 * Kill -9 at chosen lines: each app is started with one crash point armed; when it dies there, it
 * is started again with the next point of its list, so one job crosses every point in turn. The
 * points are the lines where a side effect has happened and nothing durable says so yet.
 */
const PLAN: Record<AppName, string[]> = {
  api: ['submit:after-create'],
  provisioner: [
    'advance:provisioning:after-write',
    'launch:after-create',
    'step:provision:after-handler',
    'advance:staging_in:after-write',
    'teardown:after-terminate-call',
    'step:teardown:after-handler',
  ],
  transfer: [
    'stage-in:after-start',
    'step:stage-in:after-handler',
    'advance:training:after-write',
    'stage-out:after-plan',
    'stage-out:after-complete',
    'advance:succeeded:after-write',
  ],
  monitor: ['train:after-start', 'advance:staging_out:after-write', 'step:train:after-handler'],
};

const INPUT = Buffer.alloc(1024 * 1024, 5);

/** Trains a little, then writes a digest of its input and a multipart-sized output. */
const SCRIPT = String.raw`
import hashlib, json, os, time
data = open(os.environ['INPUT_DATA'], 'rb').read()
for step in range(1, 5):
    print(json.dumps({"step": step, "total_steps": 4}), flush=True)
    time.sleep(0.3)
out = os.environ['OUTPUT_DIR']
open(os.path.join(out, 'digest.txt'), 'w').write(hashlib.sha256(data).hexdigest())
with open(os.path.join(out, 'big.bin'), 'wb') as f:
    f.write(b'\x07' * (9 * 1024 * 1024))
`;

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 150,
    // Short locks so a killed worker's step comes back in seconds; the sweep runs often.
    extraEnv: { STEP_LOCK_MS: '3000', STEP_STALLED_CHECK_MS: '1000', RECONCILE_EVERY_MS: '1500' },
  });
  s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'crash/input.bin', INPUT);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

/** The crash points that fired in a process's log (the line is written just before SIGKILL). */
function firedIn(logFile: string): string[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const match = /^\{"crashPoint":"([^"]+)"/.exec(line);
      return match ? [match[1]!] : [];
    });
}

/**
 * Arms every app with the first point of its list and, as each dies at its point, restarts it with
 * the next one (and finally with none). Returns the points that fired, in order, per app.
 */
function superviseCrashes(target: Stack) {
  const fired: Record<string, string[]> = {};
  const pending = new Map<number, string[]>();
  let stopped = false;
  const arm = async (index: number) => {
    const app = target.apps[index]!;
    const next = pending.get(index)!.shift();
    const replacement = await target.killAndRestart(index, next ? { INNO_CRASH_POINTS: next } : {});
    if (!next) return;
    void replacement.exited.then(async () => {
      if (stopped || replacement.child.signalCode !== 'SIGKILL') return;
      (fired[app.app] ??= []).push(...firedIn(replacement.logFile).filter((p) => !(fired[app.app] ?? []).includes(p)));
      await arm(index);
    });
  };
  return {
    fired,
    async start() {
      for (const [index, app] of target.apps.entries()) {
        pending.set(index, [...PLAN[app.app]]);
        await arm(index);
      }
    },
    stop() {
      stopped = true;
    },
  };
}

describe('kill -9 at chosen lines of every stage', () => {
  it('ends the job correctly: outputs intact, one instance, trained once, nothing left running', async () => {
    const supervisor = superviseCrashes(stack);
    await supervisor.start();
    await waitFor(async () => (await fetch(`${stack.baseUrl}/healthz`).catch(() => null))?.ok, {
      timeoutMs: 20_000,
      description: 'the armed API to answer',
    });

    // The API dies after saving the job and before queueing it: the client sees the connection drop
    // and sends the same request again with the same Idempotency-Key, as a careful client does.
    const body = {
      name: 'crash-points',
      instance: { type: 'gpu_1x_a10' },
      inputs: { data: `s3://${BUCKET}/crash/input.bin` },
      script: { inline: SCRIPT, filename: 'train.py' },
    };
    const submit = () =>
      fetch(`${stack.baseUrl}/v1/jobs`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${stack.secrets.apiKey}`,
          'idempotency-key': 'crash-points-0001',
        },
      });
    await expect(submit()).rejects.toThrow();
    const retried = await waitFor(
      async () => {
        const response = await submit().catch(() => null);
        return response?.status === 202 ? response : undefined;
      },
      { timeoutMs: 20_000, description: 'the restarted API to take the retry' },
    );
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    const id = ((await retried.json()) as { id: string }).id;
    expect((await stack.api('/v1/jobs')).json.data.map((j: { id: string }) => j.id)).toEqual([id]);

    const job = await waitForJobEnd(stack, id, 300_000);
    // The last points fire around the end (teardown's own step); let the plan run out first.
    await waitFor(() => Object.entries(PLAN).every(([app, points]) => (supervisor.fired[app]?.length ?? 0) >= points.length) || undefined, {
      timeoutMs: 60_000,
      description: 'every planned crash point to fire',
    }).catch(() => undefined);
    supervisor.stop();
    if (job.status !== 'succeeded')
      process.stdout.write(
        `${JSON.stringify(job.error)}\n${JSON.stringify(await getEvents(stack, id), null, 1)}\n${JSON.stringify(supervisor.fired)}\n`,
      );

    expect(job.status).toBe('succeeded');
    for (const [app, points] of Object.entries(PLAN)) expect(supervisor.fired[app]).toEqual(points);
    expect((await getObject(s3, BUCKET, `jobs/${id}/output/digest.txt`)).toString()).toBe(createHash('sha256').update(INPUT).digest('hex'));
    expect((await getObject(s3, BUCKET, `jobs/${id}/output/big.bin`)).equals(Buffer.alloc(9 * 1024 * 1024, 7))).toBe(true);
    const ledger = stack.lambda.state.ledger().filter((entry) => entry.jobTag === id);
    expect(ledger).toHaveLength(1);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
    const log = (await stack.api(`/v1/jobs/${id}/logs`)).text;
    expect(log.match(/"step": 1,/g)).toHaveLength(1);
    const events = await getEvents(stack, id);
    expect(events.filter((e) => e.message.startsWith('Started:'))).toHaveLength(1);
    expect(events.filter((e) => e.data?.status === 'succeeded')).toHaveLength(1);
    const kills = Object.values(supervisor.fired).flat().length;
    process.stdout.write(
      `crash points: ${kills} kills at chosen lines, job ${job.status}, instances ${ledger.length}, alive ${stack.lambda.state.aliveInstances().length}\n`,
    );
  });

  it('cancels a training job even when the API dies right after recording the cancel', async () => {
    const apiIndex = stack.apps.findIndex((app) => app.app === 'api');
    const endless = String.raw`
import json, time
step = 0
while True:
    step += 1
    print(json.dumps({"step": step}), flush=True)
    time.sleep(0.3)
`;
    const submitted = await stack.api('/v1/jobs', {
      body: { instance: { type: 'gpu_1x_a10' }, script: { inline: endless, filename: 'train.py' } },
    });
    expect(submitted.status).toBe(202);
    const id = submitted.json.id as string;
    await waitFor(async () => (await getJob(stack, id)).progress?.step >= 2 || undefined, {
      timeoutMs: 90_000,
      description: 'training to progress',
    });
    const api = await stack.killAndRestart(apiIndex, { INNO_CRASH_POINTS: 'cancel:after-write' });
    await waitFor(async () => (await fetch(`${stack.baseUrl}/healthz`).catch(() => null))?.ok, {
      timeoutMs: 20_000,
      description: 'the armed API to answer',
    });
    await expect(stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' })).rejects.toThrow();
    await api.exited;
    expect(firedIn(api.logFile).at(-1)).toBe('cancel:after-write');
    await stack.killAndRestart(apiIndex);
    await waitFor(async () => (await fetch(`${stack.baseUrl}/healthz`).catch(() => null))?.ok, {
      timeoutMs: 20_000,
      description: 'the API to answer again',
    });
    const job = await waitForJobEnd(stack, id, 60_000);
    expect(job.status).toBe('cancelled');
    expect(stack.lambda.state.instance(job.instance.id)?.status).toBe('terminated');
    expect((await getEvents(stack, id)).some((e) => e.message === 'Training process stopped')).toBe(true);
  });
});

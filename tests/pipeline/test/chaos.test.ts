import { createHash } from 'node:crypto';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, getObject, putObject, startStack, submitJob, testS3Client, type Stack } from '../src';

jest.setTimeout(420_000);

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;

beforeAll(async () => {
  stack = await startStack({ ipBase: 230, replicas: { provisioner: 2, transfer: 2, monitor: 2 } });
  s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'chaos/input.bin', Buffer.alloc(2 * 1024 * 1024, 3));
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

/** Trains for a few seconds, then writes an output larger than one upload part (multipart). */
const SCRIPT = String.raw`
import hashlib, json, os, time
data = open(os.environ['INPUT_DATA'], 'rb').read()
for step in range(1, 9):
    print(json.dumps({"step": step, "total_steps": 8, "loss": 1.0 / step}), flush=True)
    time.sleep(0.5)
out = os.environ['OUTPUT_DIR']
open(os.path.join(out, 'digest.txt'), 'w').write(hashlib.sha256(data).hexdigest())
with open(os.path.join(out, 'big.bin'), 'wb') as f:
    f.write((os.environ['JOB_ID'].encode() * 1000)[:1 << 20] * 10)
`;

describe('chaos: processes killed at random while jobs run', () => {
  it('ends every job correctly with intact outputs, no instance alive and none billed twice', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(
        await submitJob(stack, {
          instance: { type: 'gpu_1x_a10' },
          inputs: { data: `s3://${BUCKET}/chaos/input.bin` },
          script: { inline: SCRIPT, filename: 'train.py' },
        }),
      );
    }
    // Every process is fair game, the API included (the test's own polls ride out its restarts).
    // The kinds take turns so that even a short run kills each; the replica is picked at random.
    const KINDS = ['monitor', 'transfer', 'provisioner', 'api'] as const;
    const killed: Record<string, number> = {};
    let kills = 0;
    let done = false;
    // The driver: every 2 s, SIGKILL one process and start a replacement.
    const driver = (async () => {
      let seed = 7;
      while (!done) {
        await waitFor(() => done || undefined, { timeoutMs: 2000, intervalMs: 100, description: 'next kill' }).catch(() => undefined);
        if (done) break;
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const kind = KINDS[kills % KINDS.length]!;
        const replicas = stack.apps.map((app, index) => ({ app, index })).filter(({ app }) => app.app === kind);
        const victim = replicas[seed % replicas.length]!;
        await stack.killAndRestart(victim.index);
        killed[victim.app.app] = (killed[victim.app.app] ?? 0) + 1;
        kills++;
      }
    })();
    const started = Date.now();
    const jobs = await waitFor(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
        return all.every((job) => ['succeeded', 'failed', 'cancelled'].includes(job.status) && job.instance?.terminatedAt)
          ? all
          : undefined;
      },
      { timeoutMs: 360_000, intervalMs: 500, description: 'every job to end with its instance terminated' },
    ).finally(() => {
      done = true;
    });
    await driver;

    expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const expectedDigest = createHash('sha256')
      .update(Buffer.alloc(2 * 1024 * 1024, 3))
      .digest('hex');
    for (const job of jobs) {
      expect((await getObject(s3, BUCKET, `jobs/${job.id}/output/digest.txt`)).toString()).toBe(expectedDigest);
      const big = await getObject(s3, BUCKET, `jobs/${job.id}/output/big.bin`);
      const unit = Buffer.from(job.id.repeat(1000)).subarray(0, 1 << 20);
      expect(big.equals(Buffer.concat(Array.from({ length: 10 }, () => unit)))).toBe(true);
    }
    const ledger = stack.lambda.state.ledger();
    const perJob = ids.map((id) => ledger.filter((entry) => entry.jobTag === id).length);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
    expect(perJob).toEqual([1, 1, 1, 1]);
    process.stdout.write(
      `chaos: ${kills} kills ${JSON.stringify(killed)}, ${ids.length} jobs, outcomes ${JSON.stringify(jobs.map((j) => j.status))}, instances per job ${JSON.stringify(perJob)}, orphans ${stack.lambda.state.aliveInstances().length}, ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  });
});

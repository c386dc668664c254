import { waitFor } from '@inno-train/test-kit';
import { BUCKET, putObject, startStack, testS3Client, type Stack } from '../src';

jest.setTimeout(180_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ipBase: 120, replicas: { provisioner: 2, transfer: 2, monitor: 2 } });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'replicas/data.bin', Buffer.alloc(256 * 1024, 7));
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

const SCRIPT = String.raw`
import json, os
size = os.path.getsize(os.environ['INPUT_DATA'])
for step in range(1, 4):
    print(json.dumps({"step": step, "total_steps": 3, "loss": 1.0 / step}), flush=True)
open(os.path.join(os.environ['OUTPUT_DIR'], 'size.txt'), 'w').write(str(size))
`;

describe('two replicas of every worker app', () => {
  it('carry concurrent jobs to success with exactly one instance and one training run per job', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await stack.api('/v1/jobs', {
        body: { name: `replica-${i}`, instance: { type: 'gpu_1x_a10' }, inputs: { data: `s3://${BUCKET}/replicas/data.bin` }, script: { inline: SCRIPT, filename: 'train.py' } },
      });
      expect(response.status).toBe(202);
      ids.push(response.json.id);
    }
    const jobs = await waitFor(async () => {
      const all = await Promise.all(ids.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
      return all.every((job) => ['succeeded', 'failed', 'cancelled'].includes(job.status) && job.instance?.terminatedAt) ? all : undefined;
    }, { timeoutMs: 150_000, intervalMs: 300, description: 'every job to end with its instance terminated' });

    expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const ledger = stack.lambda.state.ledger();
    for (const id of ids) {
      expect(ledger.filter((entry) => entry.jobTag === id)).toHaveLength(1);
      const events = (await stack.api(`/v1/jobs/${id}/events`)).json.data as { message: string }[];
      expect(events.filter((e) => e.message.startsWith('Started:'))).toHaveLength(1);
      expect(events.filter((e) => e.message.startsWith('Launched instance'))).toHaveLength(1);
      const log = (await stack.api(`/v1/jobs/${id}/logs`)).text;
      expect(log.match(/"step": 1,/g)).toHaveLength(1);
    }
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });
});

import { waitFor } from '@inno-train/test-kit';
import {
  BUCKET,
  CHECKSUM_SCRIPT,
  dataset,
  ENDLESS_SCRIPT,
  expectedWeights,
  FAILING_SCRIPT,
  getObject,
  getRecord,
  putObject,
  startStack,
  testS3Client,
  type Stack,
} from '../src';

jest.setTimeout(180_000);

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;
const train = dataset(4 * 1024 * 1024);
const evalParts = [dataset(1024 * 1024), dataset(1536 * 1024), dataset(512 * 1024)];
const datasetBytes = train.body.length + evalParts.reduce((sum, part) => sum + part.body.length, 0);

beforeAll(async () => {
  stack = await startStack({ ipBase: 40 });
  s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'data/train.jsonl', train.body);
  for (const [i, part] of evalParts.entries()) await putObject(s3, BUCKET, `data/eval/part-${i}.bin`, part.body);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

async function submit(body: Record<string, unknown>) {
  const response = await stack.api('/v1/jobs', { body });
  expect(response.status).toBe(202);
  return response.json.id as string;
}

async function job(id: string) {
  return (await stack.api(`/v1/jobs/${id}`)).json;
}

async function waitForEnd(id: string, timeoutMs = 120_000) {
  return waitFor(
    async () => {
      const current = await job(id);
      return ['succeeded', 'failed', 'cancelled'].includes(current.status) && (current.instance === null || current.instance.terminatedAt)
        ? current
        : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `job ${id} to end and its instance to be terminated` },
  );
}

function baseJob(script: string, extra: Record<string, unknown> = {}) {
  return {
    name: 'e2e',
    instance: { type: 'gpu_1x_a10', regions: ['us-west-1', 'us-east-1'] },
    inputs: { train: `s3://${BUCKET}/data/train.jsonl`, eval: `s3://${BUCKET}/data/eval/` },
    script: { inline: script, filename: 'train.py' },
    config: { epochs: 3, lr: 0.0002 },
    env: { HF_HUB_OFFLINE: '1' },
    ...extra,
  };
}

describe('the training pipeline on real parts', () => {
  it('runs a job with a file and a prefix input to success, with outputs byte for byte in S3', async () => {
    const metersBefore = stack.bytesReceivedByApps();
    const submitted = Date.now();
    const id = await submit(baseJob(CHECKSUM_SCRIPT, { metadata: { team: 'speech' } }));
    const done = await waitForEnd(id);
    // Status and error together, so a failure says why.
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(done.instance).toMatchObject({ type: 'gpu_1x_a10', region: 'us-west-1', priceCentsPerHour: 75, status: 'terminated' });
    expect(done.progress).toMatchObject({ step: 5, totalSteps: 5, epoch: 1, loss: 0.2 });
    expect(done.metadata).toEqual({ team: 'speech' });
    // The host key was pinned at the first connection: the one the simulated instance really has.
    expect((await getRecord(stack, id)).instance?.hostKeyFingerprint).toBe(stack.hosts.get(done.instance.id)!.hostKeyFingerprint);
    // ...and it is bookkeeping: the API does not show it.
    expect(done.instance.hostKeyFingerprint).toBeUndefined();

    const prefix = `jobs/${id}/output/`;
    const checksums = JSON.parse((await getObject(s3, BUCKET, `${prefix}checksums.json`)).toString());
    expect(checksums.inputs).toEqual({
      'train/train.jsonl': train.sha256,
      'eval/part-0.bin': evalParts[0]!.sha256,
      'eval/part-1.bin': evalParts[1]!.sha256,
      'eval/part-2.bin': evalParts[2]!.sha256,
    });
    expect(checksums.config).toContain('epochs: 3');
    expect(checksums.env_input_train).toMatch(/inputs\/train\/train\.jsonl$/);
    const weights = await getObject(s3, BUCKET, `${prefix}model/weights.bin`);
    expect(weights.equals(expectedWeights())).toBe(true);
    expect(done.outputs).toEqual(expect.arrayContaining([{ key: `${prefix}model/weights.bin`, size: 12 * 1024 * 1024 }]));
    expect((await getObject(s3, BUCKET, `${prefix}config.yaml`)).toString()).toContain('lr: 0.0002');

    const events = (await stack.api(`/v1/jobs/${id}/events`)).json.data as { stage: string; type: string; at: string; message: string }[];
    const statuses = events.filter((e) => e.type === 'status').map((e) => (e as any).data.status);
    expect(statuses).toEqual(['queued', 'provisioning', 'staging_in', 'training', 'staging_out', 'succeeded']);
    expect(events.some((e) => e.stage === 'teardown' && /terminated \(confirmed\)/.test(e.message))).toBe(true);
    const logs = await stack.api(`/v1/jobs/${id}/logs`);
    expect(logs.text).toContain('"step": 5');
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);

    // Wall time by stage, from the events (reported in the closing note).
    const at = (status: string) => Date.parse(events.find((e) => (e as any).data?.status === status)!.at);
    const byStage = {
      provisioning: at('staging_in') - at('provisioning'),
      staging_in: at('training') - at('staging_in'),
      training: at('staging_out') - at('training'),
      staging_out: at('succeeded') - at('staging_out'),
      total: Date.now() - submitted,
    };
    // The host's own view: no long-lived credential in its environment or anywhere in its home.
    const environment = (await getObject(s3, BUCKET, `${prefix}environment.txt`)).toString();
    const homeFiles = (await getObject(s3, BUCKET, `${prefix}home-files.txt`)).toString();
    expect(environment).toContain(`JOB_ID=${id}`);
    expect(homeFiles).toContain('train.py');
    for (const secret of [
      stack.secrets.lambdaApiKey,
      stack.secrets.apiKey,
      stack.secrets.sshPassphrase,
      'AWS_SECRET_ACCESS_KEY',
      'aws_secret_access_key',
    ]) {
      expect(environment).not.toContain(secret);
      expect(homeFiles).not.toContain(secret);
    }
    expect(environment).not.toMatch(/^AWS_/m);
    // s3rver's one key pair uses the same string as key id and secret: the id may appear where it
    // belongs (the credential scope of presigned URLs in the transfer scripts), nowhere else.
    const withoutKeyIds = (text: string) => text.split(`X-Amz-Credential=${stack.s3.accessKeyId}`).join('');
    expect(withoutKeyIds(environment)).not.toContain(stack.secrets.s3SecretKey);
    expect(withoutKeyIds(homeFiles)).not.toContain(stack.secrets.s3SecretKey);
    expect(homeFiles).not.toContain('.aws/credentials');

    // Dataset bytes never pass through our processes: what they received is far below the data.
    const received = stack.bytesReceivedByApps() - metersBefore;
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan((datasetBytes + weights.length) / 4);
    process.stdout.write(`pipeline test 1 wall time by stage (ms): ${JSON.stringify(byStage)}\n`);
    process.stdout.write(`orchestrator bytes received: ${received} for ${datasetBytes} dataset bytes + ${weights.length} output bytes\n`);
  });

  it('fails a job whose script exits non-zero, with its exit code and log tail, after staging out partial outputs', async () => {
    const id = await submit(baseJob(FAILING_SCRIPT));
    const done = await waitForEnd(id);
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('training_failed');
    expect(done.error.stage).toBe('training');
    expect(done.error.message).toContain('exited with code 3');
    expect(done.error.message).toContain('CUDA out of memory (simulated)');
    expect((await getObject(s3, BUCKET, `jobs/${id}/output/partial.txt`)).toString()).toBe('half a model');
    expect(done.instance.terminatedAt).toBeTruthy();
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });

  it('cancels a job during training: the process is stopped and the instance terminated', async () => {
    const id = await submit(baseJob(ENDLESS_SCRIPT));
    await waitFor(
      async () => {
        const current = await job(id);
        return current.status === 'training' && current.progress?.step >= 3 ? current : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, description: 'training to report progress' },
    );
    const cancelled = await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.status).toBe('cancelled');
    const done = await waitForEnd(id, 60_000);
    expect(done.status).toBe('cancelled');
    const events = (await stack.api(`/v1/jobs/${id}/events`)).json.data as { message: string }[];
    expect(events.some((e) => e.message === 'Training process stopped')).toBe(true);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
    // Cancelling again answers the cancelled job (idempotent), with nothing more done.
    const again = await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id, status: 'cancelled', updatedAt: done.updatedAt });
  });

  it('fails a job whose host dies during training with host_lost, and terminates its instance', async () => {
    const id = await submit(baseJob(ENDLESS_SCRIPT));
    const training = await waitFor(
      async () => {
        const current = await job(id);
        return current.status === 'training' && current.progress?.step >= 2 ? current : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, description: 'training to report progress' },
    );
    await stack.hosts.get(training.instance.id)!.kill();
    const done = await waitForEnd(id, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'host_lost', stage: 'training' });
    expect(done.error.message).toContain('refuses connections');
    expect(stack.lambda.state.instance(training.instance.id)?.status).toBe('terminated');
  });

  it('stops a job at maxRuntimeSeconds, stages out partial outputs and fails it with max_runtime_exceeded', async () => {
    const script = `import os\nopen(os.path.join(os.environ['OUTPUT_DIR'], 'checkpoint.txt'), 'w').write('step 1')\n` + ENDLESS_SCRIPT;
    const id = await submit(baseJob(script, { maxRuntimeSeconds: 2 }));
    const done = await waitForEnd(id, 90_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'max_runtime_exceeded', stage: 'training' });
    expect((await getObject(s3, BUCKET, `jobs/${id}/output/checkpoint.txt`)).toString()).toBe('step 1');
    expect(done.progress.step).toBeGreaterThan(1);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });

  it('fails with no_capacity when no allowed region has capacity, launching nothing', async () => {
    const launchesBefore = stack.lambda.state.counters().launches;
    const id = await submit(baseJob(CHECKSUM_SCRIPT, { instance: { type: 'gpu_8x_h100_sxm5', regions: ['us-east-1'] } }));
    const done = await waitForEnd(id, 30_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'no_capacity', stage: 'provisioning' });
    expect(done.error.message).toContain('gpu_8x_h100_sxm5');
    expect(done.instance).toBeNull();
    expect(stack.lambda.state.counters().launches).toBe(launchesBefore);
  });
});

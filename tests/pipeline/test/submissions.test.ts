import { BUCKET, putObject, startStack, testS3Client, type Stack } from '../src';

jest.setTimeout(60_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ipBase: 90, replicas: { provisioner: 0, transfer: 0, monitor: 0 } });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'data/train.jsonl', '{"x": 1}\n');
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

const valid = () => ({
  instance: { type: 'gpu_1x_a10' },
  inputs: { train: `s3://${BUCKET}/data/train.jsonl` },
  script: { inline: 'print(1)', filename: 'train.py' },
});

async function rejected(body: unknown) {
  const response = await stack.api('/v1/jobs', { body });
  expect(response.status).toBe(400);
  expect(typeof response.json.error.code).toBe('string');
  return response.json.error as { code: string; message: string; details?: { path: string; message: string }[] };
}

describe('job submission', () => {
  it('accepts a valid job with 202 and shows it as queued', async () => {
    const response = await stack.api('/v1/jobs', { body: valid() });
    expect(response.status).toBe(202);
    expect(response.json).toMatchObject({
      status: 'queued',
      instance: null,
      progress: null,
      error: null,
      outputUri: `s3://${BUCKET}/jobs/${response.json.id}/output/`,
    });
    expect(response.json.createdAt).toMatch(/\+00:00$/);
    const listed = await stack.api('/v1/jobs?status=queued&limit=10');
    expect(listed.json.data.map((j: { id: string }) => j.id)).toContain(response.json.id);
  });

  it('needs an API key on every /v1 route and on the Bull Board, but not on /healthz', async () => {
    expect((await stack.api('/v1/jobs', { key: null })).status).toBe(401);
    expect((await stack.api('/v1/jobs', { key: 'wrong-key-wrong-key-wrong' })).status).toBe(401);
    expect((await stack.api('/v1/jobs', { key: null, body: valid() })).status).toBe(401);
    expect((await stack.api('/admin/queues', { key: null })).status).toBe(401);
    expect((await stack.api('/admin/queues')).status).toBe(200);
    expect((await stack.api('/healthz', { key: null })).status).toBe(200);
  });

  it('names the missing field', async () => {
    const { instance: _omit, ...noInstance } = valid();
    const error = await rejected(noInstance);
    expect(error.details?.map((d) => d.path)).toContain('instance');
    expect(error.message).toContain('instance');
  });

  it('names a field of the wrong type', async () => {
    const error = await rejected({ ...valid(), maxRuntimeSeconds: 'soon' });
    expect(error.details?.map((d) => d.path)).toEqual(['maxRuntimeSeconds']);
  });

  it('rejects unknown fields', async () => {
    const error = await rejected({ ...valid(), gpus: 8 });
    expect(error.message).toContain('gpus');
  });

  it('rejects a malformed S3 URI and names the input', async () => {
    const error = await rejected({ ...valid(), inputs: { train: 'https://example.com/x' } });
    expect(error.details?.map((d) => d.path)).toEqual(['inputs.train']);
  });

  it('rejects an input that does not exist in S3 and names it', async () => {
    const error = await rejected({
      ...valid(),
      inputs: { train: `s3://${BUCKET}/data/train.jsonl`, eval: `s3://${BUCKET}/data/missing/` },
    });
    expect(error.code).toBe('invalid_input');
    expect(error.details?.map((d) => d.path)).toEqual(['inputs.eval']);
  });

  it('rejects shell metacharacters in names, input names and env keys', async () => {
    expect((await rejected({ ...valid(), name: 'x; rm -rf ~' })).details?.map((d) => d.path)).toEqual(['name']);
    expect((await rejected({ ...valid(), inputs: { 'a$(id)': `s3://${BUCKET}/data/train.jsonl` } })).details?.[0]?.path).toMatch(/^inputs/);
    expect((await rejected({ ...valid(), env: { 'X;touch /tmp/p': '1' } })).details?.[0]?.path).toMatch(/^env/);
    expect((await rejected({ ...valid(), env: { OUTPUT_DIR: '/' } })).details?.[0]?.path).toBe('env.OUTPUT_DIR');
    expect((await rejected({ ...valid(), script: { inline: 'x', filename: '../evil.py' } })).details?.[0]?.path).toBe('script.filename');
  });

  it('answers malformed JSON with 400', async () => {
    const response = await stack.api('/v1/jobs', { body: '{"instance": ' });
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('invalid_json');
  });

  it('answers 404 job_not_found for an unknown id', async () => {
    const response = await stack.api('/v1/jobs/j0000000000000000000000');
    expect(response.status).toBe(404);
    expect(response.json.error.code).toBe('job_not_found');
  });
});

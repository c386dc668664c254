import request from 'supertest';
import { InnoError } from '@inno-train/core';
import { JOB_ID_PATTERN } from '@inno-train/job-store';
import { DEFAULT_BUCKET, KEY_A, openHarness, pendingJobs, uniqueNamespace, type Harness } from './harness';

const TRAIN = 's3://data-bucket/sets/train.jsonl';
const EVAL = 's3://data-bucket/sets/eval/';
const SCRIPT_URI = 's3://code-bucket/scripts/fine_tune-v2.py';
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;
const INLINE_SCRIPT = 'import os\nprint("inline-script-marker-7f3a")';
const ENV_VALUE = 'env-value-marker-91c2';

const validJob = () => ({
  instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] },
  inputs: { train: TRAIN },
  script: { inline: INLINE_SCRIPT, filename: 'train.py' },
});

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('submit'));
  for (const uri of [TRAIN, EVAL, SCRIPT_URI]) h.storage.known.add(uri);
});

afterEach(() => {
  h.storage.failWith = null;
});

afterAll(async () => {
  await h.close();
});

function submit(body: unknown) {
  return request(h.app)
    .post('/v1/jobs')
    .set('Authorization', `Bearer ${KEY_A}`)
    .send(body as object);
}

async function jobCount(): Promise<number> {
  return (await h.store.list({ limit: 200 })).jobs.length;
}

type Detail = { path: string; message: string };

/** Submits, expects a 400, and returns the error; also checks nothing was created or enqueued. */
async function rejected(body: unknown): Promise<{ code: string; message: string; details: Detail[] }> {
  const jobsBefore = await jobCount();
  const provisionBefore = (await pendingJobs(h.queues, 'provision')).length;
  const response = await submit(body);
  expect(response.status).toBe(400);
  expect(await jobCount()).toBe(jobsBefore);
  expect((await pendingJobs(h.queues, 'provision')).length).toBe(provisionBefore);
  return response.body.error;
}

const paths = (details: Detail[] | undefined) => (details ?? []).map((d) => d.path);

describe('POST /v1/jobs', () => {
  it('accepts a valid job with 202 and answers every field of the REST contract', async () => {
    const response = await submit({
      ...validJob(),
      name: 'sft-demo.v1_a',
      metadata: { team: 'speech' },
      inputs: { train: TRAIN, eval: EVAL },
    });
    expect(response.status).toBe(202);
    const job = response.body;
    expect(job.id).toMatch(JOB_ID_PATTERN);
    expect(job).toMatchObject({
      id: expect.any(String),
      name: 'sft-demo.v1_a',
      status: 'queued',
      startedAt: null,
      finishedAt: null,
      instance: null,
      progress: null,
      outputUri: `s3://${DEFAULT_BUCKET}/jobs/${job.id}/output/`,
      outputs: [],
      error: null,
      metadata: { team: 'speech' },
    });
    expect(job.createdAt).toMatch(ISO_WITH_OFFSET);
    expect(job.updatedAt).toMatch(ISO_WITH_OFFSET);
    expect(Date.parse(job.createdAt)).not.toBeNaN();
    expect(Math.abs(Date.parse(job.createdAt) - Date.now())).toBeLessThan(60_000);

    const stored = await h.store.mustGet(job.id);
    expect(stored.status).toBe('queued');
    expect(stored.spec.inputs).toEqual({ train: TRAIN, eval: EVAL });
    expect(h.storage.calls).toEqual(expect.arrayContaining([TRAIN, EVAL]));

    const fetched = await request(h.app).get(`/v1/jobs/${job.id}`).set('Authorization', `Bearer ${KEY_A}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(job);
  });

  it('defaults name and metadata, and the public view never shows the inline script or env values', async () => {
    const response = await submit({ ...validJob(), env: { HF_HUB_OFFLINE: ENV_VALUE } });
    expect(response.status).toBe(202);
    expect(response.body.name).toBeNull();
    expect(response.body.metadata).toEqual({});
    const text = JSON.stringify(response.body);
    expect(text).not.toContain('inline-script-marker-7f3a');
    expect(text).not.toContain(ENV_VALUE);
    expect(response.body.request.envKeys).toEqual(['HF_HUB_OFFLINE']);
  });

  it('enqueues one provision step per job carrying only the job id and an empty step', async () => {
    const response = await submit({ ...validJob(), env: { HF_HUB_OFFLINE: ENV_VALUE }, config: { lr: 0.0002 } });
    expect(response.status).toBe(202);
    const id = response.body.id as string;
    const queued = await h.queues.provision.getJob(`${id}.provision.0`);
    expect(queued).toBeDefined();
    expect(queued!.name).toBe('provision');
    expect(queued!.data).toEqual({ jobId: id, step: {} });
    const data = JSON.stringify(queued!.data);
    expect(data).not.toContain('inline-script-marker');
    expect(data).not.toContain(ENV_VALUE);
    const forThisJob = (await pendingJobs(h.queues, 'provision')).filter((j) => j.data.jobId === id);
    expect(forThisJob).toHaveLength(1);
  });

  it('defaults the command to python3 with the script file name', async () => {
    const response = await submit({ ...validJob(), script: { inline: 'print(1)', filename: 'run_me.py' } });
    expect(response.status).toBe(202);
    expect(response.body.request.command).toBe('python3 run_me.py');
    expect((await h.store.mustGet(response.body.id)).spec.command).toBe('python3 run_me.py');
  });

  it('defaults an inline script file name to train.py', async () => {
    const response = await submit({ ...validJob(), script: { inline: 'print(1)' } });
    expect(response.status).toBe(202);
    expect(response.body.request.script).toEqual({ filename: 'train.py' });
    expect(response.body.request.command).toBe('python3 train.py');
  });

  it('keeps an explicit command and output URI', async () => {
    const response = await submit({ ...validJob(), command: 'bash run.sh --fast', outputUri: 's3://out-bucket/runs/x/' });
    expect(response.status).toBe(202);
    expect(response.body.request.command).toBe('bash run.sh --fast');
    expect(response.body.outputUri).toBe('s3://out-bucket/runs/x/');
  });

  it('takes the file name of a script given by URI from the URI and checks the script exists', async () => {
    const calls = h.storage.calls.length;
    const response = await submit({ ...validJob(), script: { uri: SCRIPT_URI } });
    expect(response.status).toBe(202);
    expect(response.body.request.script).toEqual({ uri: SCRIPT_URI, filename: 'fine_tune-v2.py' });
    expect(response.body.request.command).toBe('python3 fine_tune-v2.py');
    expect(h.storage.calls.slice(calls)).toEqual(expect.arrayContaining([TRAIN, SCRIPT_URI]));
  });

  it('rejects a script URI that does not exist, naming script.uri', async () => {
    const error = await rejected({ ...validJob(), script: { uri: 's3://code-bucket/scripts/missing.py' } });
    expect(error.code).toBe('invalid_input');
    expect(paths(error.details)).toEqual(['script.uri']);
  });

  it('rejects a script URI without a plain file name unless a filename is given', async () => {
    h.storage.known.add('s3://code-bucket/scripts/');
    const error = await rejected({ ...validJob(), script: { uri: 's3://code-bucket/scripts/' } });
    expect(paths(error.details)).toEqual(['script.filename']);
    const named = await submit({ ...validJob(), script: { uri: 's3://code-bucket/scripts/', filename: 'main.py' } });
    expect(named.status).toBe(202);
    expect(named.body.request.command).toBe('python3 main.py');
  });

  it('names a missing required field', async () => {
    const { instance: _instance, ...noInstance } = validJob();
    const error = await rejected(noInstance);
    expect(error.code).toBe('invalid_request');
    expect(paths(error.details)).toContain('instance');
    expect(error.message).toContain('instance');
  });

  it('names an unknown field, also when nested', async () => {
    const top = await rejected({ ...validJob(), gpus: 8 });
    expect(top.code).toBe('invalid_request');
    expect(top.details).toEqual([{ path: 'gpus', message: 'unknown field' }]);
    expect(top.message).toContain('gpus');

    const nested = await rejected({ ...validJob(), instance: { type: 'gpu_1x_a10', count: 2 } });
    expect(nested.details).toEqual([{ path: 'instance.count', message: 'unknown field' }]);
  });

  it('names a field of the wrong type', async () => {
    expect(paths((await rejected({ ...validJob(), maxRuntimeSeconds: 'soon' })).details)).toEqual(['maxRuntimeSeconds']);
    expect(paths((await rejected({ ...validJob(), instance: { type: 42 } })).details)).toEqual(['instance.type']);
    expect(paths((await rejected({ ...validJob(), metadata: { team: 7 } })).details)).toEqual(['metadata.team']);
  });

  it('rejects a body that is not an object', async () => {
    const error = await rejected([validJob()]);
    expect(error.code).toBe('invalid_request');
    expect(error.details.length).toBeGreaterThan(0);
  });

  it('rejects a bad input name, naming the input', async () => {
    for (const name of ['Train', '1train', 'a$(id)', 'x'.repeat(33), 'has-dash']) {
      const error = await rejected({ ...validJob(), inputs: { [name]: TRAIN } });
      expect(error.code).toBe('invalid_request');
      expect(paths(error.details)).toEqual([`inputs.${name}`]);
    }
  });

  it('rejects an input that is not an s3:// URI, naming the input', async () => {
    const error = await rejected({ ...validJob(), inputs: { train: 'https://example.com/x' } });
    expect(paths(error.details)).toEqual(['inputs.train']);
  });

  it('rejects a malformed S3 URI found by the storage check, naming the input', async () => {
    const error = await rejected({ ...validJob(), inputs: { train: TRAIN, eval: 's3://data-bucket/sets/../secret' } });
    expect(error.code).toBe('invalid_input');
    expect(paths(error.details)).toEqual(['inputs.eval']);
    expect(error.details[0]!.message).toContain('..');
  });

  it('rejects an input object that does not exist, naming inputs.<name>', async () => {
    const error = await rejected({ ...validJob(), inputs: { train: TRAIN, eval: 's3://data-bucket/sets/missing.jsonl' } });
    expect(error.code).toBe('invalid_input');
    expect(error.details).toEqual([{ path: 'inputs.eval', message: expect.stringContaining('missing.jsonl') }]);
    expect(error.message).toContain('inputs.eval');
  });

  it('names every missing input at once', async () => {
    const error = await rejected({ ...validJob(), inputs: { a: 's3://data-bucket/nope/a', b: TRAIN, c: 's3://data-bucket/nope/c/' } });
    expect(paths(error.details).sort()).toEqual(['inputs.a', 'inputs.c']);
  });

  it('rejects env keys with shell metacharacters, naming the key', async () => {
    for (const key of ['A;B', 'X$(id)', 'FOO BAR', '1ABC', 'A-B']) {
      const error = await rejected({ ...validJob(), env: { [key]: '1' } });
      expect(error.code).toBe('invalid_request');
      expect(paths(error.details)).toEqual([`env.${key}`]);
    }
  });

  it('rejects env keys the service sets itself', async () => {
    for (const key of [
      'OUTPUT_DIR',
      'JOB_ID',
      'JOB_DIR',
      'INPUT_DIR',
      'CONFIG_PATH',
      'INPUT_X',
      'INPUT_TRAIN',
      'INNO_ANYTHING',
      'PATH',
      'HOME',
    ]) {
      const error = await rejected({ ...validJob(), env: { OK_VAR: '1', [key]: '1' } });
      expect(paths(error.details)).toEqual([`env.${key}`]);
      expect(error.details[0]!.message).toContain('cannot be overridden');
    }
  });

  it('rejects an output URI without a trailing slash', async () => {
    const error = await rejected({ ...validJob(), outputUri: 's3://out-bucket/runs/x' });
    expect(paths(error.details)).toEqual(['outputUri']);
    expect(error.details[0]!.message).toContain('ending in /');
  });

  it('rejects names with spaces, semicolons or more than 64 characters', async () => {
    for (const name of ['my job', 'x; rm -rf ~', 'a'.repeat(65), '-leading-dash', '']) {
      const error = await rejected({ ...validJob(), name });
      expect(paths(error.details)).toEqual(['name']);
    }
    const longest = await submit({ ...validJob(), name: 'a'.repeat(64) });
    expect(longest.status).toBe(202);
  });

  it('answers 503 unavailable without the internal message when the storage check is down', async () => {
    h.storage.failWith = new InnoError('storage_unavailable', 'connect ECONNREFUSED 10.9.8.7:9000 internal-detail-5e1', {
      retryable: true,
    });
    const jobsBefore = await jobCount();
    const response = await submit(validJob());
    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe('unavailable');
    expect(response.body.error.details).toBeUndefined();
    const text = JSON.stringify(response.body);
    expect(text).not.toContain('internal-detail-5e1');
    expect(text).not.toContain('10.9.8.7');
    expect(text).not.toContain('storage_unavailable');
    expect(await jobCount()).toBe(jobsBefore);
  });

  it('answers 500 internal_error without the message when the storage check fails unexpectedly', async () => {
    h.storage.failWith = new Error('boom internal-detail-77');
    const response = await submit(validJob());
    expect(response.status).toBe(500);
    expect(response.body.error.code).toBe('internal_error');
    expect(JSON.stringify(response.body)).not.toContain('internal-detail-77');
  });
});

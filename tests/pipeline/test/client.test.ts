/**
 * The typed client (`@inno-train/client`) against the whole stack on real parts: a submission whose
 * answer is lost, listing with filters across pages, waiting until a job is settled, downloading an
 * output through the API's redirect (checked byte for byte against S3 read with the AWS SDK), and
 * retrying a job. Two jobs run in full (the first and its retry); the others never get an instance.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createClient, type InnoTrainClient, type Job, type JobOutput } from '@inno-train/client';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, startStack, testS3Client, type Stack } from '../src';

jest.setTimeout(240_000);

const TENANT = 'team-client';
const OTHER = 'team-other';
const PREFIX = `s3://${BUCKET}/${TENANT}/`;
/** Unique to this run: every job this file makes carries it, so filters see nothing else. */
const SUITE = `client-${Date.now()}`;

/** Writes two outputs (one nested, one whose name needs encoding) from bytes that depend on RUN_LABEL. */
const OUTPUT_SCRIPT = String.raw`
import hashlib, json, os
out = os.environ['OUTPUT_DIR']
os.makedirs(os.path.join(out, 'model'), exist_ok=True)
os.makedirs(os.path.join(out, 'reports'), exist_ok=True)
block = hashlib.sha256(os.environ['RUN_LABEL'].encode()).digest()
with open(os.path.join(out, 'model', 'weights.bin'), 'wb') as f:
    for _ in range(20000):
        block = hashlib.sha256(block).digest()
        f.write(block)
with open(os.path.join(out, 'reports', 'final report #1.txt'), 'w') as f:
    f.write('label ' + os.environ['RUN_LABEL'] + '\n')
print(json.dumps({"step": 1, "total_steps": 1, "loss": 0.5}), flush=True)
`;

const WEIGHTS = 'model/weights.bin';
const REPORT = 'reports/final report #1.txt';

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;
let client: InnoTrainClient;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 10,
    ipPrefix: '127.0.6.',
    tenants: [
      { name: TENANT, allowedPrefixes: [PREFIX] },
      { name: OTHER, allowedPrefixes: [`s3://${BUCKET}/${OTHER}/`] },
    ],
  });
  s3 = testS3Client(stack.s3);
  client = createClient({ baseUrl: stack.baseUrl, apiKey: key(TENANT) });
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

function key(tenant: string): string {
  return stack.secrets.tenantKeys[tenant]!;
}

async function all<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) items.push(item);
  return items;
}

async function s3Bytes(uri: string): Promise<Buffer> {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw new Error(`not an s3:// URI: ${uri}`);
  const object = await s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** What the fetch under a client saw: each request's URL, whether it carried Authorization, and the answer's status and headers. */
interface Seen {
  method: string;
  url: URL;
  authorization: boolean;
  redirect: RequestInit['redirect'];
  status: number;
  headers: Headers;
}

function watchingFetch(seen: Seen[]): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    seen.push({
      method: init?.method ?? 'GET',
      url: new URL(String(input)),
      authorization: new Headers(init?.headers).has('authorization'),
      redirect: init?.redirect,
      status: response.status,
      headers: response.headers,
    });
    return response;
  };
}

const runJob = (label: string) => ({
  name: 'client-run',
  instance: { type: 'gpu_1x_a10' },
  script: { inline: OUTPUT_SCRIPT, filename: 'train.py' },
  env: { RUN_LABEL: label },
  metadata: { suite: SUITE, kind: 'run' },
});

/** Never gets an instance: no region has capacity for this type. */
const noCapacityJob = (name: string, capacityWaitSeconds: number) => ({
  name,
  instance: { type: 'gpu_8x_h100_sxm5', capacityWaitSeconds },
  script: { inline: 'print(1)', filename: 'train.py' },
  metadata: { suite: SUITE, kind: 'cheap' },
});

/** The job that runs in full; made by the first test, waited for and downloaded by later ones. */
let run: Job;

describe('a submission whose answer is lost', () => {
  it('is sent again with the same Idempotency-Key and answers the one job it made, marked replayed', async () => {
    const posts: (string | null)[] = [];
    let lost = false;
    const losing: typeof fetch = async (input, init) => {
      const isSubmit = init?.method === 'POST' && new URL(String(input)).pathname === '/v1/jobs';
      if (isSubmit) posts.push(new Headers(init?.headers).get('idempotency-key'));
      const response = await fetch(input, init);
      if (!isSubmit || lost) return response;
      // The server made the job and answered; the answer never arrives.
      lost = true;
      await response.arrayBuffer();
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    };
    const lossy = createClient({ baseUrl: stack.baseUrl, apiKey: key(TENANT), fetch: losing, retry: { baseDelayMs: 50 } });

    const submitted = await lossy.jobs.createWithResponse(runJob('first'));
    run = submitted.job;

    expect(submitted.replayed).toBe(true);
    expect(posts).toHaveLength(2);
    expect(posts[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(posts[1]).toBe(posts[0]);
    expect(run).toMatchObject({ name: 'client-run', createdBy: TENANT, retryOf: null, outputUri: `${PREFIX}jobs/${run.id}/output/` });
    const made = await all(client.jobs.list({ metadata: { suite: SUITE, kind: 'run' } }));
    expect(made.map((job) => job.id)).toEqual([run.id]);
  });
});

describe('listing', () => {
  /** The cheap jobs, oldest first: one fails at once for want of capacity, two wait for it and are cancelled. */
  let noCapacity: Job;
  let cancelled: Job[];
  /** After noCapacity was made, before the cancelled ones were. */
  let boundary: Date;

  beforeAll(async () => {
    noCapacity = await client.jobs.create(noCapacityJob('client-list-nocap', 0));
    // A job id carries its creation time to the millisecond, at most its createdAt.
    boundary = new Date(Date.parse(noCapacity.createdAt) + 1);
    await waitFor(() => Date.now() > boundary.getTime(), { timeoutMs: 1000, description: 'the clock to pass the boundary' });
    cancelled = [];
    for (let i = 0; i < 2; i++) {
      const waiting = await client.jobs.create(noCapacityJob('client-list-cancel', 3600));
      cancelled.push(await client.jobs.cancel(waiting.id));
    }
    const settled = await Promise.all(
      [noCapacity, ...cancelled].map((job) => client.jobs.waitUntilSettled(job.id, { intervalMs: 200, timeoutMs: 60_000 })),
    );
    expect(settled.map((job) => [job.status, job.error?.code ?? null, job.instance])).toEqual([
      ['failed', 'no_capacity', null],
      ['cancelled', null, null],
      ['cancelled', null, null],
    ]);
  });

  it('iterates page after page, newest first, without duplicates, with and without a record filter', async () => {
    const newestFirst = ids([...cancelled].reverse()).concat(noCapacity.id, run.id);
    const seen: Seen[] = [];
    const paging = createClient({ baseUrl: stack.baseUrl, apiKey: key(TENANT), fetch: watchingFetch(seen) });

    expect(ids(await all(paging.jobs.list({ limit: 1 })))).toEqual(newestFirst);
    const unfilteredCalls = seen.length;
    expect(ids(await all(paging.jobs.list({ limit: 2, metadata: { suite: SUITE } })))).toEqual(newestFirst);

    expect(new Set(newestFirst).size).toBe(4);
    expect(unfilteredCalls).toBeGreaterThanOrEqual(4);
    expect(seen.length - unfilteredCalls).toBeGreaterThanOrEqual(2);
    const page = await paging.jobs.listPage({ limit: 2 });
    expect({ ids: ids(page.data), hasMore: page.hasMore, nextAfter: page.nextAfter }).toEqual({
      ids: newestFirst.slice(0, 2),
      hasMore: true,
      nextAfter: newestFirst[1],
    });
  });

  it('narrows by status list, name, metadata and creation time, alone and together', async () => {
    const list = async (params: Parameters<InnoTrainClient['jobs']['list']>[0]) =>
      ids(await all(client.jobs.list({ limit: 2, ...params, metadata: { suite: SUITE, ...params?.metadata } })));
    const [first, second] = ids(cancelled);

    expect(await list({ status: ['failed', 'cancelled'] })).toEqual([second, first, noCapacity.id]);
    expect(await list({ status: 'failed' })).toEqual([noCapacity.id]);
    expect(await list({ name: 'client-list-cancel' })).toEqual([second, first]);
    expect(await list({ metadata: { kind: 'cheap' } })).toEqual([second, first, noCapacity.id]);
    expect(await list({ createdAfter: boundary })).toEqual([second, first]);
    expect(await list({ createdBefore: boundary.toISOString() })).toEqual([noCapacity.id, run.id]);
    expect(await list({ createdBefore: boundary, status: ['failed', 'cancelled'] })).toEqual([noCapacity.id]);
    expect(await list({ createdAfter: boundary, name: 'client-list-nocap' })).toEqual([]);
  });
});

describe('a job run to success', () => {
  let settled: Job;

  it('is waited for until settled: instance terminated, settledAt set, cost final', async () => {
    settled = await client.jobs.waitUntilSettled(run.id, { intervalMs: 500, timeoutMs: 180_000 });

    expect({ status: settled.status, error: settled.error }).toEqual({ status: 'succeeded', error: null });
    expect(settled.settledAt).toEqual(expect.any(String));
    expect(settled.cost.final).toBe(true);
    expect(settled.instance).toMatchObject({ status: 'terminated', terminatedAt: expect.any(String) });
  });

  it('lists its outputs and downloads each byte for byte through the redirect, the key never sent to S3', async () => {
    const seen: Seen[] = [];
    const watched = createClient({ baseUrl: stack.baseUrl, apiKey: key(TENANT), fetch: watchingFetch(seen) });

    const page = await watched.jobs.outputs(run.id, { limit: 1 });
    const outputs = await all(watched.jobs.listOutputs(run.id, { limit: 1 }));

    expect(page.hasMore).toBe(true);
    expect(outputs.map((o) => o.path)).toEqual([WEIGHTS, REPORT]);
    expect(page.data).toEqual(outputs.slice(0, 1));
    for (const output of outputs) expect(output.uri).toBe(`${run.outputUri}${output.path}`);
    expect(outputs[0]?.size).toBe(20000 * 32);

    for (const output of outputs) {
      seen.length = 0;
      const response = await watched.jobs.downloadOutput(run.id, output.path);
      const downloaded = Buffer.from(await response.arrayBuffer());
      const inS3 = await s3Bytes(output.uri);
      expect({ path: output.path, size: downloaded.length, same: downloaded.equals(inS3) }).toEqual({
        path: output.path,
        size: output.size,
        same: true,
      });
      const [redirect, download] = seen;
      expect(seen).toHaveLength(2);
      expect(redirect).toMatchObject({ status: 302, authorization: true, redirect: 'manual' });
      expect(redirect?.url.origin).toBe(stack.baseUrl);
      expect(redirect?.headers.get('cache-control')).toBe('no-store');
      expect(download).toMatchObject({ status: 200, authorization: false });
      expect(download?.url.href).toBe(redirect?.headers.get('location'));
    }
    const url = new URL(await watched.jobs.outputUrl(run.id, REPORT));
    expect(url.origin).toBe(new URL(stack.s3.endpoint).origin);
    expect(url.origin).not.toBe(new URL(stack.baseUrl).origin);
    expect(decodeURIComponent(url.pathname)).toBe(`/${BUCKET}/${TENANT}/jobs/${run.id}/output/${REPORT}`);
    expect((await s3Bytes(`${run.outputUri}${REPORT}`)).toString()).toBe('label first\n');
    await expect(watched.jobs.outputUrl(run.id, 'model/missing.bin')).rejects.toMatchObject({ code: 'output_not_found', status: 404 });
  });

  it('is retried with overrides as a new job of its own (retryOf, outputUri) that runs and settles too', async () => {
    const retried = await client.jobs.retry(run.id, {
      overrides: { name: 'client-run-retry', env: { RUN_LABEL: 'second' }, metadata: { suite: SUITE, kind: 'retry' } },
    });

    expect(retried).toMatchObject({
      name: 'client-run-retry',
      retryOf: run.id,
      metadata: { suite: SUITE, kind: 'retry' },
      outputUri: `${PREFIX}jobs/${retried.id}/output/`,
      request: { instance: run.request.instance },
    });
    expect(retried.id).not.toBe(run.id);
    const done = await client.jobs.waitUntilSettled(retried.id, { intervalMs: 500, timeoutMs: 180_000 });
    expect({ status: done.status, error: done.error, final: done.cost.final }).toEqual({ status: 'succeeded', error: null, final: true });
    const outputs: JobOutput[] = await all(client.jobs.listOutputs(retried.id));
    expect(outputs.map((o) => o.uri)).toEqual([`${retried.outputUri}${WEIGHTS}`, `${retried.outputUri}${REPORT}`]);
    const report = await client.jobs.downloadOutput(retried.id, REPORT);
    expect(await report.text()).toBe('label second\n');
    // The original's outputs are untouched.
    expect((await s3Bytes(`${run.outputUri}${REPORT}`)).toString()).toBe('label first\n');
    expect(ids(await all(client.jobs.list({ metadata: { suite: SUITE, kind: 'retry' } })))).toEqual([retried.id]);
  });

  it("answers job_not_found to another tenant's retry, and makes nothing", async () => {
    const other = createClient({ baseUrl: stack.baseUrl, apiKey: key(OTHER), retry: { baseDelayMs: 50 } });

    await expect(other.jobs.retry(run.id)).rejects.toMatchObject({ code: 'job_not_found', status: 404, attempts: 1 });

    expect(await all(other.jobs.list())).toEqual([]);
  });
});

function ids(jobs: Job[]): string[] {
  return jobs.map((job) => job.id);
}

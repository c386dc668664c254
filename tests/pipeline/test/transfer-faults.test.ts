/**
 * Transfers that go wrong in flight (issue 18), on real parts: the apps and the hosts reach S3
 * through a proxy (throttle-proxy.ts) that counts every request and can cut a response or flip a byte
 * of it. A range cut mid-way is fetched again alone; a byte flipped in flight is caught by the MD5 the
 * ETag gives and the file fetched again, and a flip on every download fails the job with
 * input_verification_failed; an upload whose worker and host script are SIGKILLed mid-way resumes
 * from the recorded plan without sending a completed part again.
 */
import { spawnSync } from 'node:child_process';
import { waitFor } from '@inno-train/test-kit';
import {
  BUCKET,
  CHECKSUM_SCRIPT,
  dataset,
  getObject,
  putObject,
  startStack,
  submitJob,
  testS3Client,
  waitForJobEnd,
  type Stack,
} from '../src';
import type { ProxiedRequest, RequestRecord } from '../src/throttle-proxy';

jest.setTimeout(240_000);

const MiB = 1024 * 1024;
let stack: Stack;
let s3: ReturnType<typeof testS3Client>;

beforeAll(async () => {
  // Four connections per stage: a 40 MiB object is five 8 MiB ranges.
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.25.', s3Proxy: { bytesPerSecond: 0 }, extraEnv: { TRANSFER_CONNECTIONS: '4' } });
  s3 = testS3Client(stack.s3);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

beforeEach(() => {
  stack.s3Proxy!.faults.clear();
  stack.s3Proxy!.setBytesPerSecond(0);
  stack.s3Proxy!.reset();
});

function proxy() {
  return stack.s3Proxy!;
}

/** Requests the proxy saw for one key (path `/bucket/key`). */
function requestsFor(key: string, method = 'GET'): RequestRecord[] {
  return proxy()
    .stats()
    .requests.filter((r) => r.method === method && r.path === `/${BUCKET}/${key}`);
}

/** The sha256 the checksum script saw of each input, from its output. */
async function checksumsSeen(id: string): Promise<Record<string, string>> {
  const body = await getObject(s3, BUCKET, `jobs/${id}/output/checksums.json`);
  return (JSON.parse(body.toString('utf8')) as { inputs: Record<string, string> }).inputs;
}

function checksumJob(inputs: Record<string, string>, extra: Record<string, unknown> = {}) {
  return { instance: { type: 'gpu_1x_a10' }, inputs, script: { inline: CHECKSUM_SCRIPT, filename: 'train.py' }, ...extra };
}

describe('downloads through a faulty network', () => {
  it('fetches again only the range whose response was cut mid-way', async () => {
    const big = dataset(40 * MiB + 4321);
    await putObject(s3, BUCKET, 'faults/big.bin', big.body);
    const cut = 'bytes=8388608-16777215';
    proxy().faults.add({
      match: (r: ProxiedRequest) => r.path === `/${BUCKET}/faults/big.bin` && r.range === cut,
      action: { kind: 'drop-after', bytes: MiB },
    });
    const id = await submitJob(stack, checksumJob({ big: `s3://${BUCKET}/faults/big.bin` }));
    const done = await waitForJobEnd(stack, id);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(await checksumsSeen(id)).toEqual({ 'big/big.bin': big.sha256 });
    // Every range once, the cut one twice; never the whole object.
    const ranges = requestsFor('faults/big.bin').map((r) => r.range ?? 'whole');
    const counts = Object.fromEntries([...new Set(ranges)].map((range) => [range, ranges.filter((r) => r === range).length]));
    expect(counts).toEqual({
      'bytes=0-8388607': 1,
      [cut]: 2,
      'bytes=16777216-25165823': 1,
      'bytes=25165824-33554431': 1,
      'bytes=33554432-41943039': 1,
      'bytes=41943040-41947360': 1,
    });
    expect(proxy().faults.hits()).toHaveLength(1);
    // The ranges share the stage's budget (TRANSFER_CONNECTIONS=4) over more than one connection; the
    // worker whose connection was cut opens one more.
    const connections = new Set(requestsFor('faults/big.bin').map((r) => r.connection));
    expect(connections.size).toBeGreaterThan(1);
    expect(connections.size).toBeLessThanOrEqual(4 + 1);
    // The transfer's last figures stay on the job.
    expect(done.transfer).toMatchObject({ stage: 'staging_out' });
  });

  it('catches a byte flipped in flight by the MD5 S3 publishes, and fetches the file again', async () => {
    const data = dataset(3 * MiB);
    await putObject(s3, BUCKET, 'faults/flipped.bin', data.body);
    proxy().faults.add({
      match: (r) => r.method === 'GET' && r.path === `/${BUCKET}/faults/flipped.bin`,
      action: { kind: 'flip-byte', offset: 123_457 },
    });
    const id = await submitJob(stack, checksumJob({ data: `s3://${BUCKET}/faults/flipped.bin` }));
    const done = await waitForJobEnd(stack, id);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(await checksumsSeen(id)).toEqual({ 'data/flipped.bin': data.sha256 });
    expect(requestsFor('faults/flipped.bin').map((r) => r.fault ?? 'clean')).toEqual(['flip-byte', 'clean']);
    const events = (await stack.api(`/v1/jobs/${id}/events`)).json.data as { message: string }[];
    expect(events.some((e) => /checked against S3's checksum/.test(e.message))).toBe(true);
  });

  it("fails the job with input_verification_failed when the bytes never match S3's MD5", async () => {
    const data = dataset(2 * MiB);
    await putObject(s3, BUCKET, 'faults/always-flipped.bin', data.body);
    proxy().faults.add({
      match: (r) => r.method === 'GET' && r.path === `/${BUCKET}/faults/always-flipped.bin`,
      action: { kind: 'flip-byte', offset: 99 },
      times: 10,
    });
    const id = await submitJob(stack, checksumJob({ data: `s3://${BUCKET}/faults/always-flipped.bin` }));
    const done = await waitForJobEnd(stack, id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'input_verification_failed', stage: 'staging_in' });
    expect(done.error.message).toContain('md5 mismatch');
    // Downloaded twice (verifyAttempts), then given up: the instance was still given back.
    expect(requestsFor('faults/always-flipped.bin')).toHaveLength(2);
  });
});

const BIG_OUTPUT_SCRIPT = String.raw`
import os
with open(os.path.join(os.environ['OUTPUT_DIR'], 'model.bin'), 'wb') as f:
    for i in range(48):
        f.write(os.urandom(1 << 20))
print('{"step": 1, "total_steps": 1}', flush=True)
`;

describe('an upload killed mid-way', () => {
  it('resumes from the recorded plan: parts the host recorded as sent are not sent again', async () => {
    await putObject(s3, BUCKET, 'faults/tiny.txt', 'tiny');
    // 48 MiB in 8 MiB parts over four connections at 2 MiB/s each: the upload takes several seconds.
    proxy().setBytesPerSecond(2 * MiB);
    const id = await submitJob(stack, {
      instance: { type: 'gpu_1x_a10' },
      inputs: { tiny: `s3://${BUCKET}/faults/tiny.txt` },
      script: { inline: BIG_OUTPUT_SCRIPT, filename: 'train.py' },
    });
    const key = `jobs/${id}/output/model.bin`;
    // The engine's journal on the host: a part is written there once S3 has answered for it.
    const journalled = async (): Promise<number[]> => {
      const job = (await stack.api(`/v1/jobs/${id}`)).json;
      const host = job.instance ? stack.hosts.get(job.instance.id) : undefined;
      if (!host) return [];
      const read = spawnSync('nsenter', ['-t', String(host.pid), '-m', 'cat', `/home/ubuntu/inno-train/${id}/.inno/stage-out.journal`], {
        encoding: 'utf8',
      });
      return read.stdout
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => (JSON.parse(line) as { n: number }).n);
    };
    await waitFor(async () => ((await journalled()).length >= 2 ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 100,
      description: 'two parts of the output to be sent and journalled',
    });
    // The worker and the host's engine die together, mid-upload.
    const engine = spawnSync('pkill', ['-KILL', '-f', 'python3 -X utf8 -c .{0,4}The transfer engine']);
    await stack.killAndRestart(stack.apps.findIndex((app) => app.app === 'transfer'));
    expect(engine.status).toBe(0);
    const sentBefore = await journalled();
    expect(sentBefore.length).toBeGreaterThanOrEqual(2);
    expect(sentBefore.length).toBeLessThan(6);
    proxy().setBytesPerSecond(0);

    const done = await waitForJobEnd(stack, id, 180_000);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    expect(done.outputs).toContainEqual({ key, size: 48 * MiB });
    expect((await getObject(s3, BUCKET, key)).length).toBe(48 * MiB);
    // Each part recorded before the kill went up once: the restarted engine reused its journal.
    const parts = requestsFor(key, 'PUT').filter((r) => r.partNumber !== undefined && r.status === 200);
    for (const part of sentBefore) expect({ part, times: parts.filter((r) => r.partNumber === part).length }).toEqual({ part, times: 1 });
    expect(new Set(parts.map((r) => r.partNumber))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
    const events = (await stack.api(`/v1/jobs/${id}/events`)).json.data as { message: string }[];
    expect(events.some((e) => e.message.includes(`${sentBefore.length} parts already sent by an earlier run`))).toBe(true);
  });
});

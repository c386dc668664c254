/**
 * Logs outlive the instance and Redis (issue 14), on real parts: one job prints more than the
 * stored copy keeps (8 MiB), and waits. While it runs the API answers from Redis, cut
 * (X-Log-Truncated: true). Stage-out then uploads the host's whole train.log with presigned URLs to
 * the service's bucket (jobs/<id>/logs/train.log); afterwards GET /v1/jobs/:id/logs is a 302 to
 * that archive, and what comes back is every byte the script printed, also through the typed
 * client, also from an offset Redis no longer holds. The archive is read with the AWS SDK too.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@inno-train/client';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, getObject, getRecord, startStack, submitJob, testS3Client, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(240_000);

/** More than the stored copy keeps (8 MiB), so Redis loses the beginning, and over one 8 MiB upload part. */
const LINES = 360_000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Exactly what the script prints: numbered lines of varying length, so a lost or doubled chunk shows. */
function expectedLog(): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < LINES; i++) lines.push(`${String(i).padStart(8, '0')} ${ALPHABET.slice(0, i % 37)}\n`);
  return Buffer.from(lines.join(''));
}

/** Prints the lines at once, then waits until the test has looked at the log while it runs. */
const LOUD_SCRIPT = String.raw`
import os, sys, time
alphabet = '${ALPHABET}'
sys.stdout.write(''.join('%08d %s\n' % (i, alphabet[:i % 37]) for i in range(${LINES})))
sys.stdout.flush()
deadline = time.time() + 120
while not os.path.exists(os.environ['RELEASE_FILE']) and time.time() < deadline:
    time.sleep(0.2)
`;

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;
let releaseDir: string;
const expected = expectedLog();

beforeAll(async () => {
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.10.' });
  s3 = testS3Client(stack.s3);
  // Each host has its own home and /tmp but shares /run (as the test kit's host keys do): the
  // script waits for a file the test writes here.
  releaseDir = mkdtempSync('/run/inno-log-archive-');
  chmodSync(releaseDir, 0o755);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
  if (releaseDir) rmSync(releaseDir, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${stack.secrets.apiKey}` });

describe('a log bigger than the stored copy', () => {
  it('comes back whole after the job, from the archive in S3, byte for byte', async () => {
    expect(expected.length).toBeGreaterThan(9 * 1024 * 1024);
    const release = join(releaseDir, 'release');
    const id = await submitJob(stack, {
      name: 'loud',
      instance: { type: 'gpu_1x_a10' },
      script: { inline: LOUD_SCRIPT, filename: 'loud.py' },
      env: { RELEASE_FILE: release },
    });

    // While it runs: Redis answers, and has lost the beginning.
    const during = await waitFor(
      async () => {
        const response = await fetch(`${stack.baseUrl}/v1/jobs/${id}/logs?offset=0`, { headers: auth(), redirect: 'manual' });
        const text = await response.text();
        return Number(response.headers.get('x-log-size')) === expected.length ? { response, text } : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: `job ${id} to print all of its ${expected.length} bytes` },
    );
    expect((await stack.api(`/v1/jobs/${id}`)).json.status).toBe('training');
    expect(during.response.status).toBe(200);
    expect(during.response.headers.get('x-log-truncated')).toBe('true');
    const cut = Number(during.response.headers.get('x-log-offset'));
    expect(cut).toBeGreaterThan(0);
    expect(Buffer.from(during.text).equals(expected.subarray(cut))).toBe(true);

    writeFileSync(release, 'go');
    const done = await waitForJobEnd(stack, id);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
    // The log is not an output of the job.
    expect(done.outputs.filter((o: { key: string }) => o.key.includes('train.log'))).toEqual([]);

    // The archive, read with the SDK from the service's bucket.
    const key = `jobs/${id}/logs/train.log`;
    expect((await getObject(s3, BUCKET, key)).equals(expected)).toBe(true);
    expect((await getRecord(stack, id)).logArchive).toEqual({
      uri: `s3://${BUCKET}/${key}`,
      size: expected.length,
      archivedAt: expect.any(String),
    });

    // The API's answer now: a 302 to a presigned GET of the archive, which works without our key.
    const redirect = await fetch(`${stack.baseUrl}/v1/jobs/${id}/logs`, { headers: auth(), redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('cache-control'), redirect.headers.get('x-log-size')]).toEqual([
      302,
      'no-store',
      String(expected.length),
    ]);
    const location = redirect.headers.get('location')!;
    expect(new URL(location).origin).toBe(new URL(stack.s3.endpoint).origin);
    const fromS3 = await fetch(location);
    expect(fromS3.status).toBe(200);
    expect(Buffer.from(await fromS3.arrayBuffer()).equals(expected)).toBe(true);

    // fetch following the redirect (it drops Authorization on the way to S3): the whole log, and a Range S3 answers.
    const followed = await fetch(`${stack.baseUrl}/v1/jobs/${id}/logs`, { headers: auth() });
    expect(Buffer.from(await followed.arrayBuffer()).equals(expected)).toBe(true);
    const ranged = await fetch(`${stack.baseUrl}/v1/jobs/${id}/logs`, { headers: { ...auth(), range: 'bytes=1000-' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(expected.subarray(1000))).toBe(true);
    // The stack's own helper (fetch with the key, following) reads it whole as well.
    expect((await stack.api(`/v1/jobs/${id}/logs`)).text).toBe(expected.toString());

    // The typed client: whole, from an offset Redis lost, and from one it still holds.
    const client = createClient({ baseUrl: stack.baseUrl, apiKey: stack.secrets.apiKey });
    expect(await client.jobs.logs(id)).toBe(expected.toString());
    expect(await client.jobs.logs(id, { offset: 12_345 })).toBe(expected.subarray(12_345).toString());
    const near = expected.length - 100;
    expect(await client.jobs.logs(id, { offset: near })).toBe(expected.subarray(near).toString());
  });
});

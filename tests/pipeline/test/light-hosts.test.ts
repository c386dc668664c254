/**
 * The whole pipeline on light hosts (test-kit's light-host.ts, `lightHosts: true`): the host
 * scripts, the uploads and the detached runners work on them as on the OpenSSH hosts, which is what
 * lets bench:scale trust its figures.
 */
import { BUCKET, getObject, getRecord, startStack, testS3Client, tinyJob, submitJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(60_000);

let stack: Stack;
let s3: ReturnType<typeof testS3Client>;

beforeAll(async () => {
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.15.', lightHosts: true });
  s3 = testS3Client(stack.s3);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

it('runs a tiny job to success on a light host, with its output in S3 and the host gone after teardown', async () => {
  const id = await submitJob(stack, tinyJob());
  const done = await waitForJobEnd(stack, id, 45_000);
  expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: null });
  expect((await getObject(s3, BUCKET, `jobs/${id}/output/done.txt`)).toString()).toBe('ok');
  const host = stack.hosts.get(done.instance.id)!;
  expect((await getRecord(stack, id)).instance?.hostKeyFingerprint).toBe(host.hostKeyFingerprint);
  expect(host.acceptedSessions()).toBeGreaterThan(0);
  expect(host.isAlive()).toBe(false);
});

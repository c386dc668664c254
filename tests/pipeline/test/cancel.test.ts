import { waitFor } from '@inno-train/test-kit';
import { BUCKET, getEvents, getJob, putObject, startStack, submitJob, testS3Client, tinyJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(240_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ipBase: 60 });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'cancel/input.bin', Buffer.alloc(512 * 1024, 9));
  s3.destroy();
});

afterEach(async () => {
  await stack?.s3.holdPresignedRequests(false);
});

afterAll(async () => {
  await stack?.stop();
});

/** Seconds, not minutes: from the cancel call to the instance confirmed terminated. */
const CANCEL_DEADLINE_MS = 15_000;

/**
 * Waits until the job is in `status`, its transfer has started on the host (the stage's event), and
 * the host's curl is blocked on S3 (the S3 server holds its presigned request).
 */
async function waitForTransferInFlight(id: string, status: string, event: string) {
  return waitFor(
    async () => {
      const job = await getJob(stack, id);
      if (job.status !== status) return undefined;
      if (!(await getEvents(stack, id)).some((e) => e.message.startsWith(event))) return undefined;
      return (await stack.s3.holdPresignedRequests(true)) > 0 ? job : undefined;
    },
    { timeoutMs: 60_000, description: `${status} with the host's transfer in flight` },
  );
}

async function cancelAndTime(id: string) {
  const started = Date.now();
  const cancelled = await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
  expect(cancelled.status).toBe(200);
  expect(cancelled.json.status).toBe('cancelled');
  const job = await waitForJobEnd(stack, id, CANCEL_DEADLINE_MS);
  return { job, ms: Date.now() - started };
}

describe('cancel while data moves between S3 and the host', () => {
  it('during staging_in: training never starts and the instance is terminated within seconds', async () => {
    await stack.s3.holdPresignedRequests(true);
    const id = await submitJob(stack, tinyJob({ type: 'gpu_1x_a10' }, { inputs: { data: `s3://${BUCKET}/cancel/input.bin` } }));
    await waitForTransferInFlight(id, 'staging_in', 'Fetching');

    const { job, ms } = await cancelAndTime(id);
    expect(job.status).toBe('cancelled');
    expect(stack.lambda.state.instance(job.instance.id)?.status).toBe('terminated');
    expect(stack.lambda.state.ledger().filter((e) => e.jobTag === id)).toHaveLength(1);
    // Serve the host's stalled request now: nothing may move the job on afterwards.
    await stack.s3.holdPresignedRequests(false);
    const events = await getEvents(stack, id);
    expect(events.some((e) => e.message.startsWith('Inputs on the host'))).toBe(false);
    expect(events.some((e) => e.message.startsWith('Started:'))).toBe(false);
    expect((await stack.api(`/v1/jobs/${id}/logs`)).text).toBe('');
    expect(events.find((e) => e.stage === 'cancel')?.message).toBe('Cancelled while staging_in');
    process.stdout.write(`cancel during staging_in: instance terminated ${ms} ms after the cancel call\n`);
  });

  it('during staging_out: no outputs are recorded and the instance is terminated within seconds', async () => {
    await stack.s3.holdPresignedRequests(true);
    const id = await submitJob(stack, tinyJob());
    await waitForTransferInFlight(id, 'staging_out', 'Uploading');

    const { job, ms } = await cancelAndTime(id);
    expect(job.status).toBe('cancelled');
    expect(job.outputs ?? []).toEqual([]);
    expect(stack.lambda.state.instance(job.instance.id)?.status).toBe('terminated');
    await stack.s3.holdPresignedRequests(false);
    const events = await getEvents(stack, id);
    expect(events.some((e) => e.message.includes('outputs') && e.data?.status === 'succeeded')).toBe(false);
    expect(events.find((e) => e.stage === 'cancel')?.message).toBe('Cancelled while staging_out');
    expect((await getJob(stack, id)).status).toBe('cancelled');
    process.stdout.write(`cancel during staging_out: instance terminated ${ms} ms after the cancel call\n`);
  });
});

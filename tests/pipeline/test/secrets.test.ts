import { Redis } from 'ioredis';
import { waitFor } from '@inno-train/test-kit';
import {
  BUCKET,
  ENDLESS_SCRIPT,
  FAILING_SCRIPT,
  getEvents,
  putObject,
  startStack,
  submitJob,
  testS3Client,
  tinyJob,
  waitForJobEnd,
  type Stack,
} from '../src';

jest.setTimeout(240_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ipBase: 180 });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'secrets/data.bin', Buffer.alloc(64 * 1024, 1));
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

/** Every value stored under the stack's namespaces: job records, events, logs, BullMQ's jobs and payloads. */
async function dumpRedis(namespace: string): Promise<string> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const parts: string[] = [];
  for (const pattern of [`${namespace}:*`, `{${namespace}}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        parts.push(key);
        const type = await redis.type(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
        else if (type === 'hash') parts.push(...Object.entries(await redis.hgetall(key)).flat());
        else if (type === 'set') parts.push(...(await redis.smembers(key)));
        else if (type === 'zset') parts.push(...(await redis.zrange(key, 0, -1)));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
  }
  await redis.quit();
  return parts.join('\n');
}

describe('secrets', () => {
  it('never appear in logs, events, job records, logs of jobs, BullMQ payloads or any Redis key, across successes and failures', async () => {
    const input = { data: `s3://${BUCKET}/secrets/data.bin` };
    const ok = await submitJob(stack, tinyJob({ type: 'gpu_1x_a10' }, { inputs: input, env: { HF_TOKEN_NAME: 'x' } }));
    const failing = await submitJob(
      stack,
      tinyJob({ type: 'gpu_1x_a10' }, { inputs: input, script: { inline: FAILING_SCRIPT, filename: 'train.py' } }),
    );
    const noCapacity = await submitJob(stack, tinyJob({ type: 'gpu_8x_h100_sxm5' }));
    const cancelled = await submitJob(stack, tinyJob({ type: 'gpu_1x_a10' }, { script: { inline: ENDLESS_SCRIPT, filename: 'train.py' } }));
    await waitFor(async () => (await stack.api(`/v1/jobs/${cancelled}`)).json.status === 'training', {
      timeoutMs: 90_000,
      description: 'training to start',
    });
    expect((await stack.api(`/v1/jobs/${cancelled}/cancel`, { method: 'POST' })).status).toBe(200);
    // A request with a wrong key and one with the Lambda key as a bearer: both refused, neither logged.
    expect((await stack.api('/v1/jobs', { key: stack.secrets.lambdaApiKey })).status).toBe(401);
    const jobs = await Promise.all([ok, failing, noCapacity, cancelled].map((id) => waitForJobEnd(stack, id)));
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'failed', 'failed', 'cancelled']);

    const api = [];
    for (const id of [ok, failing, noCapacity, cancelled]) {
      api.push(
        JSON.stringify(await stack.api(`/v1/jobs/${id}`)).toString(),
        JSON.stringify(await getEvents(stack, id)),
        (await stack.api(`/v1/jobs/${id}/logs`)).text,
      );
    }
    api.push(JSON.stringify((await stack.api('/v1/jobs?limit=50')).json));
    const haystacks = { logs: stack.appLogs(), redis: await dumpRedis(stack.namespace), api: api.join('\n') };
    expect(haystacks.logs.length).toBeGreaterThan(1000);
    expect(haystacks.redis).toContain(ok);

    const privateKeyBody = stack.secrets.sshPrivateKey.split('\n').filter((line) => line.length > 40)[0]!;
    const secrets: Record<string, string> = {
      'S3 secret key (and s3rver key id)': stack.secrets.s3SecretKey,
      'Lambda API key': stack.secrets.lambdaApiKey,
      'SSH passphrase': stack.secrets.sshPassphrase,
      'SSH private key': privateKeyBody,
      'API key': stack.secrets.apiKey,
      'presigned signature': 'X-Amz-Signature=',
    };
    const hits: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [what, secret] of Object.entries(secrets)) {
        if (text.includes(secret)) hits.push(`${what} in ${where}`);
      }
    }
    process.stdout.write(
      `secret scan: ${Object.keys(secrets).length} secrets x ${Object.keys(haystacks).length} places (${Object.values(haystacks).reduce((n, t) => n + t.length, 0)} chars): ${hits.length} hits\n`,
    );
    expect(hits).toEqual([]);
  });
});

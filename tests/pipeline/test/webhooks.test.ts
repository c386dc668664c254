import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { waitFor } from '@inno-train/test-kit';
import { getEvents, startStack, submitJob, tinyJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(240_000);

const IP_PREFIX = '127.0.9.';
/** The receiver's own loopback address, below the instances' (ipBase 10 and up). */
const RECEIVER_HOST = `${IP_PREFIX}2`;

interface Delivery {
  id: string;
  body: string;
  headers: IncomingHttpHeaders;
  verified: boolean;
  answered: number;
}

/** A webhook receiver that verifies every request with the standardwebhooks library; `down` answers 503. */
async function startReceiver(secret: () => string) {
  const deliveries: Delivery[] = [];
  const state = { down: true };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        new Webhook(secret()).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const answered = state.down ? 503 : 204;
      deliveries.push({ id: String(req.headers['webhook-id']), body, headers: req.headers, verified, answered });
      res.statusCode = answered;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, RECEIVER_HOST, resolve));
  const port = (server.address() as AddressInfo).port;
  return { deliveries, state, url: `http://${RECEIVER_HOST}:${port}/hooks/inno`, close: () => new Promise((r) => server.close(r)) };
}

let stack: Stack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let secret = '';

beforeAll(async () => {
  receiver = await startReceiver(() => secret);
  stack = await startStack({
    ipBase: 10,
    ipPrefix: IP_PREFIX,
    extraEnv: {
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      // A delivery or outbox entry the killed provisioner held is taken over within seconds.
      STEP_LOCK_MS: '3000',
      STEP_STALLED_CHECK_MS: '1000',
      // Milliseconds instead of hours: 11 attempts over about 48 s, longer than the outage below.
      WEBHOOK_RETRY_SCHEDULE_MS: '250,500,1000,2000,4000,8000,8000,8000,8000,8000',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

describe('webhooks', () => {
  it('delivers every status change, success and settling of a job, signed, through an outage and a provisioner restart', async () => {
    const created = await stack.api('/v1/webhooks', { body: { url: receiver.url } });
    expect(created.status).toBe(201);
    secret = created.json.secret as string;
    const webhookId = created.json.id as string;

    const jobId = await submitJob(stack, tinyJob());
    // The receiver is down: attempts fail and are retried; the provisioner dies meanwhile.
    await waitFor(async () => receiver.deliveries.filter((d) => d.answered === 503).length >= 3, {
      timeoutMs: 60_000,
      description: 'three failed attempts while the receiver is down',
    });
    await stack.killAndRestart(stack.apps.findIndex((app) => app.app === 'provisioner'));
    await waitFor(async () => receiver.deliveries.filter((d) => d.answered === 503).length >= 6, {
      timeoutMs: 60_000,
      description: 'more failed attempts after the restart',
    });
    receiver.state.down = false;
    await waitForJobEnd(stack, jobId);

    // Every webhook event the job's history makes, by the id it must carry.
    const events = await getEvents(stack, jobId);
    const expected = new Set<string>();
    events.forEach((event, i) => {
      const seq = i + 1;
      if (event.type === 'status') {
        expected.add(`evt_${jobId}_${seq}_status_changed`);
        const status = String(event.data?.status);
        if (['succeeded', 'failed', 'cancelled'].includes(status)) expected.add(`evt_${jobId}_${seq}_${status}`);
      }
      if (event.type === 'settled') expected.add(`evt_${jobId}_${seq}_settled`);
    });
    expect([...expected].some((id) => id.endsWith('_succeeded'))).toBe(true);
    expect([...expected].some((id) => id.endsWith('_settled'))).toBe(true);
    expect(expected.size).toBeGreaterThanOrEqual(8); // queued and five status changes, succeeded, settled

    const delivered = () => new Set(receiver.deliveries.filter((d) => d.answered === 204 && d.verified).map((d) => d.id));
    await waitFor(() => [...expected].every((id) => delivered().has(id)), {
      timeoutMs: 90_000,
      description: `every event delivered and verified (${expected.size})`,
    }).catch((err: Error) => {
      const missing = [...expected].filter((id) => !delivered().has(id));
      const seen = receiver.deliveries.map((d) => `${d.id} ${d.answered} ${d.verified}`);
      throw new Error(`${err.message}\nmissing: ${missing.join(', ')}\nseen:\n${seen.join('\n')}`);
    });

    expect(receiver.deliveries.every((d) => d.verified)).toBe(true);
    expect(new Set(receiver.deliveries.map((d) => d.id))).toEqual(expected);
    for (const d of receiver.deliveries) {
      const body = JSON.parse(d.body) as { type: string; timestamp: string; data: { job: { id: string; createdBy: string } } };
      expect(body.data.job.id).toBe(jobId);
      expect(d.id.endsWith(`_${body.type.slice(4)}`)).toBe(true);
    }
    const settled = receiver.deliveries.find((d) => d.id.endsWith('_settled'))!;
    expect(JSON.parse(settled.body).data.job.settledAt).not.toBeNull();

    // A tampered body fails verification.
    const verifier = new Webhook(secret);
    const fresh = receiver.deliveries.filter((d) => d.answered === 204).at(-1)!;
    expect(() => verifier.verify(fresh.body, fresh.headers as Record<string, string>)).not.toThrow();
    expect(() => verifier.verify(fresh.body.replace(jobId, jobId.replace(/.$/, 'x')), fresh.headers as Record<string, string>)).toThrow();

    // The attempts are listed, failures with their next attempt.
    const attempts = await stack.api(`/v1/webhooks/${webhookId}/deliveries`);
    expect(attempts.status).toBe(200);
    const rows = attempts.json.data as { statusCode: number | null; error: string | null; nextAttemptAt: string | null; jobId: string }[];
    expect(rows.some((r) => r.statusCode === 503 && r.error === 'answered 503' && r.nextAttemptAt !== null)).toBe(true);
    expect(rows.some((r) => r.statusCode === 204 && r.error === null && r.nextAttemptAt === null)).toBe(true);
    expect(rows.every((r) => r.jobId === jobId)).toBe(true);

    // The secret is in no list answer, log line or queue payload.
    const list = await stack.api('/v1/webhooks');
    expect(JSON.stringify(list.json)).not.toContain(secret.slice(6));
    expect(stack.appLogs()).not.toContain(secret.slice(6));
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `{${stack.namespace}}:webhook-delivery:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          if ((await redis.type(key)) === 'hash') expect(JSON.stringify(await redis.hgetall(key))).not.toContain(secret.slice(6));
        }
      } while (cursor !== '0');
    } finally {
      await redis.quit();
    }
  });

  it('refuses URLs with credentials, other schemes, or too long, even with private networks allowed here', async () => {
    for (const url of [`http://user:pw@${RECEIVER_HOST}/`, 'ftp://example.com/', `https://example.com/${'x'.repeat(2100)}`]) {
      const answer = await stack.api('/v1/webhooks', { body: { url } });
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.json.error.details)).toContain('url');
    }
  });
});

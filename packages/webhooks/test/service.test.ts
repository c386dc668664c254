import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { createLogger } from '@inno-train/core';
import { createJobStore, newJobId } from '@inno-train/job-store';
import { createJobRecord, WEBHOOK_EVENT_TYPES, type JobRecord } from '@inno-train/schemas';
import { openRedisNamespace, waitFor } from '@inno-train/test-kit';
import { createWebhookStore, startWebhookService } from '../src';

interface Received {
  id: string;
  type: string;
  status: string;
  verified: boolean;
}

/** A receiver on loopback that verifies every request and answers `answer.status`. */
async function receiver(secret: () => string) {
  const received: Received[] = [];
  const answer = { status: 200 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      let verified = false;
      try {
        new Webhook(secret()).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const parsed = JSON.parse(body) as { type: string; data: { job: { status: string } } };
      received.push({ id: String(req.headers['webhook-id']), type: parsed.type, status: parsed.data.job.status, verified });
      res.statusCode = answer.status;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, received, answer, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

function record(id: string, createdBy: string): JobRecord {
  const job = createJobRecord({
    id,
    spec: {
      instance: { type: 'gpu_1x_a10' },
      inputs: {},
      script: { inline: 'print(1)', filename: 'train.py' },
      command: 'x',
      outputUri: 's3://b/o/',
    },
  });
  return { ...job, createdBy };
}

describe('webhook dispatch and delivery', () => {
  const space = openRedisNamespace('webhooks');
  const { redis, namespace, prefix } = space;
  const jobs = createJobStore({ redis, namespace });
  const webhooks = createWebhookStore({ redis, namespace });
  const logger = createLogger({ name: 'webhooks-test', level: 'silent' });
  /** What onDelivery was told (inno_webhook_deliveries_total), in order. */
  const results: string[] = [];
  const options = {
    onDelivery: (result: string) => results.push(result),
    redis,
    prefix,
    namespace,
    jobs,
    webhooks,
    logger,
    guard: { allowHttp: true, allowPrivateNetworks: true },
    retryScheduleMs: [20, 20, 40, 40, 80, 80, 100, 100, 100, 100],
    blockMs: 100,
  };
  let secret = '';
  let hook: Awaited<ReturnType<typeof receiver>>;
  /** Every service a test starts, closed after it whatever happened (an open worker would keep jest running). */
  const started: ReturnType<typeof startWebhookService>[] = [];
  const start = async () => {
    const service = startWebhookService(options);
    started.push(service);
    await service.start();
    return service;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((service) => service.close().catch(() => undefined)));
  });

  beforeAll(async () => {
    hook = await receiver(() => secret);
  });
  afterAll(async () => {
    hook.server.close();
    await space.close();
  });

  it('delivers every status change, signed, through retries and a restart, each event once per webhook-id', async () => {
    const endpoint = await webhooks.create('team-a', hook.url, WEBHOOK_EVENT_TYPES);
    secret = endpoint.secret;
    await webhooks.create('team-b', hook.url, WEBHOOK_EVENT_TYPES); // another tenant's: must get nothing
    const id = newJobId();
    await jobs.create(record(id, 'team-a'), { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'queued' });
    let service = await start();

    const move = (status: JobRecord['status']) =>
      jobs.update(id, (job) => ({ ...job, status }), [
        { type: 'status', stage: 'provisioning', message: status, data: { status, transition: 'x' } },
      ]);
    await move('provisioning');
    await waitFor(() => hook.received.length >= 1, { timeoutMs: 5000, description: 'the first delivery' });

    // The receiver fails for a while; the service restarts in the middle: retries are in Redis.
    hook.answer.status = 503;
    await move('succeeded');
    await waitFor(() => hook.received.filter((r) => r.type === 'job.succeeded').length >= 2, {
      timeoutMs: 5000,
      description: 'failed attempts',
    });
    await service.close();
    service = await start();
    hook.answer.status = 200;
    await jobs.update(id, (job) => ({ ...job, settledAt: new Date().toISOString() }), [
      { type: 'settled', stage: 'teardown', message: 'settled' },
    ]);

    // queued (the job's first event), provisioning, succeeded (a status change and an ending), settled.
    const expected = ['job.status_changed', 'job.status_changed', 'job.status_changed', 'job.succeeded', 'job.settled'];
    const delivered = async () => {
      const deliveries = await webhooks.deliveries(endpoint.id);
      const ok = new Set(deliveries.filter((d) => d.statusCode === 200).map((d) => d.eventId));
      return ok.size === expected.length ? deliveries : null;
    };
    const deliveries = await waitFor(delivered, { timeoutMs: 10_000, description: 'every event delivered' });
    await service.close();

    expect(hook.received.every((r) => r.verified)).toBe(true);
    const types = [...new Map(hook.received.map((r) => [r.id, r.type])).values()].sort();
    expect(types).toEqual([...expected].sort());
    const failed = deliveries.filter((d) => d.type === 'job.succeeded' && d.statusCode === 503);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.every((d) => d.nextAttemptAt !== null && d.error === 'answered 503')).toBe(true);
    expect(deliveries.find((d) => d.statusCode === 200)?.nextAttemptAt).toBeNull();
    // onDelivery was told each recorded attempt: a 2xx as delivered, a failure with retries left as failed.
    expect(results.filter((r) => r === 'delivered')).toHaveLength(deliveries.filter((d) => d.statusCode === 200).length);
    expect(results.filter((r) => r === 'failed')).toHaveLength(deliveries.filter((d) => d.statusCode === 503).length);
    expect(results.every((r) => r === 'delivered' || r === 'failed')).toBe(true);
    // Team B's endpoint never heard of team A's job.
    const all = await webhooks.list('team-b');
    expect(await webhooks.deliveries(all[0]!.id)).toEqual([]);
    // Nothing of the secret is in a delivery job's payload or the attempt records.
    const queued = await redis.keys(`${prefix}:webhook-delivery:*`);
    for (const key of queued) {
      const type = await redis.type(key);
      if (type === 'hash') expect(JSON.stringify(await redis.hgetall(key))).not.toContain(secret.slice(6));
    }
    expect(JSON.stringify(deliveries)).not.toContain(secret.slice(6));
    // The outbox is drained.
    expect(await redis.xlen(`${namespace}:webhooks:outbox`)).toBe(0);
  });

  it('sends a redelivered outbox entry once (the delivery job id is the endpoint and the event)', async () => {
    const id = newJobId();
    const endpoint = await webhooks.create('team-c', hook.url, ['job.status_changed']);
    secret = endpoint.secret;
    await jobs.create(record(id, 'team-c'), { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'queued' });
    const entry = ['job', id, 'type', 'status', 'status', 'provisioning', 'seq', '2', 'at', new Date().toISOString()];
    const outbox = `${namespace}:webhooks:outbox`;
    await redis.xadd(outbox, '*', ...entry);
    await redis.xadd(outbox, '*', ...entry);
    const service = await start();
    await waitFor(async () => (await redis.xlen(outbox)) === 0, { timeoutMs: 5000, description: 'the outbox drained' });
    // The job's own first event (queued, seq 1) and the entry written twice (seq 2): two deliveries, not three.
    await waitFor(async () => (await webhooks.deliveries(endpoint.id)).length >= 2, { timeoutMs: 5000, description: 'two deliveries' });
    await service.close();
    const deliveries = await webhooks.deliveries(endpoint.id);
    expect(deliveries.map((d) => d.eventId).sort()).toEqual([`evt_${id}_1_status_changed`, `evt_${id}_2_status_changed`]);
  });
});

import { Redis } from 'ioredis';
import { createLogger } from '@inno-train/core';
import { freePort, redisUrl } from '@inno-train/test-kit';
import { checkReadiness, createTelemetry, redisCheck, serveHealth, startHealthServer, type HealthServer } from '../src';

const logger = createLogger({ name: 'health-test', level: 'silent' });
const servers: HealthServer[] = [];
const clients: Redis[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  clients.splice(0).forEach((client) => client.disconnect());
});

/** A worker's Redis client as createRedis builds it: queues commands while disconnected. */
function workerRedis(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: () => 200 });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

async function start(ready: Parameters<typeof startHealthServer>[0]['ready']) {
  const telemetry = createTelemetry({ app: 'transfer' });
  telemetry.hooks.onSshSession({ kind: 'exec', label: 'stage-in:check', ok: true });
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, registry: telemetry.registry, logger, ...(ready ? { ready } : {}) });
  servers.push(server);
  const base = `http://127.0.0.1:${server.port}`;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  return { server, get };
}

describe('health server', () => {
  it('answers /livez, /readyz and /metrics in the Prometheus text format, and 404 elsewhere', async () => {
    const running = { value: true };
    const { get } = await start(() => checkReadiness({ workers: () => running.value }));
    expect(await get('/livez')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(await get('/readyz')).toMatchObject({ status: 200, body: '{"status":"ok","checks":{"workers":true}}' });
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain; version=0.0.4');
    expect(metrics.body).toContain('inno_ssh_sessions_total{label="stage-in:check",result="ok",app="transfer"} 1');
    expect(metrics.body).toContain('process_resident_memory_bytes');
    expect((await get('/metrics?x=1')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
    running.value = false;
    expect(await get('/readyz')).toMatchObject({ status: 503, body: '{"status":"unavailable","checks":{"workers":false}}' });
  });

  it('is not ready while Redis is unreachable, and stays alive: an outage must not restart the process', async () => {
    // A port nobody listens on: the client keeps reconnecting, as a worker's does during an outage.
    const redis = workerRedis(`redis://127.0.0.1:${await freePort()}`);
    const { get } = await start(() => checkReadiness({ redis: redisCheck(redis), workers: () => true }));
    const started = Date.now();
    expect(await get('/readyz')).toMatchObject({ status: 503, body: '{"status":"unavailable","checks":{"redis":false,"workers":true}}' });
    // Answered at once: the probe does not wait in the client's offline queue.
    expect(Date.now() - started).toBeLessThan(900);
    expect(await get('/livez')).toMatchObject({ status: 200 });
  });

  it('is ready when Redis answers', async () => {
    const redis = workerRedis(redisUrl());
    await redis.ping();
    const { get } = await start(() => checkReadiness({ redis: redisCheck(redis) }));
    expect(await get('/readyz')).toMatchObject({ status: 200, body: '{"status":"ok","checks":{"redis":true}}' });
  });

  it('counts a check that hangs or throws as not ready, within the timeout', async () => {
    const readiness = await checkReadiness(
      { hangs: () => new Promise<boolean>(() => undefined), throws: () => Promise.reject(new Error('boom')), fine: () => true },
      100,
    );
    expect(readiness).toEqual({ ready: false, checks: { hangs: false, throws: false, fine: true } });
  });

  it('starts only when a port is configured', async () => {
    const telemetry = createTelemetry({ app: 'monitor', defaultMetrics: false });
    expect(await serveHealth(undefined, { host: '127.0.0.1', registry: telemetry.registry, logger })).toBeUndefined();
    const port = await freePort();
    const server = await serveHealth(port, { host: '127.0.0.1', registry: telemetry.registry, logger });
    servers.push(server!);
    expect(server?.port).toBe(port);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
  });
});

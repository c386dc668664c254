import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, createApiClient } from '../src/api-client';

/** An API stand-in that answers POST /v1/jobs with the given statuses in turn, recording each request's key. */
async function fakeApi(statuses: number[]) {
  const keys: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    keys.push(req.headers['idempotency-key'] as string | undefined);
    req.resume();
    const status = statuses[Math.min(keys.length - 1, statuses.length - 1)]!;
    const body =
      status === 202
        ? { id: 'j1', status: 'queued' }
        : { error: { code: status === 503 ? 'unavailable' : 'invalid_request', message: 'no' } };
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { keys, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('the demo API client', () => {
  it('retries a submission the API could not take (503) with the same Idempotency-Key', async () => {
    const api = await fakeApi([503, 202]);
    try {
      const job = await createApiClient(api.url, 'k'.repeat(20)).submitJob({ instance: { type: 'gpu_1x_a10' } });
      expect(job.id).toBe('j1');
      expect(api.keys).toHaveLength(2);
      expect(api.keys[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(api.keys[1]).toBe(api.keys[0]);
    } finally {
      api.close();
    }
  });

  it('does not retry a refused submission (400)', async () => {
    const api = await fakeApi([400, 202]);
    try {
      await expect(createApiClient(api.url, 'k'.repeat(20)).submitJob({})).rejects.toBeInstanceOf(ApiError);
      expect(api.keys).toHaveLength(1);
    } finally {
      api.close();
    }
  });
});

import request from 'supertest';
import { openHarness, uniqueNamespace, type Harness } from './harness';

let h: Harness;
beforeAll(() => {
  h = openHarness(uniqueNamespace('probes'));
});
afterAll(async () => {
  await h.close();
});

describe('health probes on the public port', () => {
  it('answers /livez and /readyz without a key; a Redis outage fails /readyz only', async () => {
    expect((await request(h.app).get('/livez')).body).toEqual({ status: 'ok' });
    const ready = await request(h.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', redis: true });

    h.pingOk.value = false;
    try {
      const notReady = await request(h.app).get('/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body).toEqual({ status: 'unavailable', redis: false });
      // Alive all the same: restarting every replica would not bring Redis back.
      const alive = await request(h.app).get('/livez');
      expect(alive.status).toBe(200);
    } finally {
      h.pingOk.value = true;
    }
  });

  it('never serves /metrics on the public port (that is METRICS_PORT, loopback by default)', async () => {
    expect((await request(h.app).get('/metrics')).status).toBe(404);
  });
});

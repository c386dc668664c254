import { createMemoryHostBackend, startLambdaSimulator, type LambdaSimulator, type MemoryHostBackend } from '../src';
import { waitFor } from '@inno-train/test-kit';
import { apiCaller, manualClock } from './helpers';

const API_KEY = 'secret_sim-test_lifecycle_0123456789';
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T test';
const LAUNCH = {
  region_name: 'us-west-1',
  instance_type_name: 'gpu_1x_a10',
  ssh_key_names: ['inno'],
  name: 'job-42',
  tags: [{ key: 'job-id', value: '42' }],
};

describe('lambda simulator: instance lifecycle and billing', () => {
  let sim: LambdaSimulator;
  let hosts: MemoryHostBackend;
  let clock: ReturnType<typeof manualClock>;
  let call: ReturnType<typeof apiCaller>;

  beforeEach(async () => {
    hosts = createMemoryHostBackend();
    clock = manualClock();
    sim = await startLambdaSimulator({
      apiKey: API_KEY,
      hosts,
      rateLimits: false,
      bootDelayMs: 180_000,
      sshReadyDelayMs: 5_000,
      now: clock.now,
      terminatedRetentionMs: 60_000,
    });
    call = apiCaller(sim.url, API_KEY);
    await call('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
  });
  afterEach(async () => {
    await sim.close();
  });

  async function launch(body: object = LAUNCH): Promise<string> {
    const res = await call('POST', '/instance-operations/launch', body);
    expect(res.status).toBe(200);
    return res.body.data.instance_ids[0];
  }

  it('goes booting (no ip) -> active (ip) -> terminating -> terminated, starting and stopping its host', async () => {
    const id = await launch();
    const booting = (await call('GET', `/instances/${id}`)).body.data;
    expect(booting).toMatchObject({
      id,
      status: 'booting',
      name: 'job-42',
      ssh_key_names: ['inno'],
      tags: [{ key: 'job-id', value: '42' }],
    });
    expect(booting).not.toHaveProperty('ip');
    expect(booting.region).toEqual({ name: 'us-west-1', description: 'California, USA' });
    expect(booting.instance_type).toMatchObject({ name: 'gpu_1x_a10', price_cents_per_hour: 75 });
    const host = await waitFor(() => hosts.alive()[0], { timeoutMs: 5000, intervalMs: 10, description: 'the host to start' });
    expect(host).toMatchObject({ instanceId: id, publicKeys: [PUBLIC_KEY], sshReadyAfterMs: 185_000 });

    clock.advance(180_000);
    const active = (await call('GET', `/instances/${id}`)).body.data;
    expect(active).toMatchObject({ status: 'active', ip: host.ip, private_ip: expect.any(String), hostname: expect.any(String) });
    expect((await call('GET', '/instances')).body.data.map((i: { id: string }) => i.id)).toEqual([id]);

    const terminated = await call('POST', '/instance-operations/terminate', { instance_ids: [id] });
    expect(terminated.status).toBe(200);
    expect(terminated.body.data.terminated_instances).toEqual([expect.objectContaining({ id, status: 'terminating' })]);
    expect(hosts.alive()).toEqual([]);
    expect((await call('GET', `/instances/${id}`)).body.data.status).toBe('terminated');
    expect((await call('GET', '/instances')).body.data).toEqual([]);
    expect(sim.state.aliveInstances()).toEqual([]);
    expect(sim.state.counters()).toMatchObject({ launches: 1, terminations: 1 });
  });

  it('keeps a terminated instance readable for the retention, then answers 404; terminating it again is 404', async () => {
    const id = await launch();
    await call('POST', '/instance-operations/terminate', { instance_ids: [id] });
    const again = await call('POST', '/instance-operations/terminate', { instance_ids: [id] });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('global/object-does-not-exist');
    clock.advance(60_001);
    const gone = await call('GET', `/instances/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('global/object-does-not-exist');
  });

  it('terminates all or nothing: one unknown id fails the call and leaves the others running', async () => {
    const id = await launch();
    const res = await call('POST', '/instance-operations/terminate', { instance_ids: [id, 'ffffffffffffffffffffffffffffffff'] });
    expect(res.status).toBe(404);
    expect((await call('GET', `/instances/${id}`)).body.data.status).toBe('booting');
  });

  it('bills whole seconds from launch to terminate at the type price, and reports the job tag', async () => {
    const id = await launch();
    const other = await launch({ ...LAUNCH, tags: [] });
    clock.advance(90_500);
    await call('POST', '/instance-operations/terminate', { instance_ids: [id] });
    clock.advance(3_600_000);
    const ledger = sim.state.ledger();
    expect(ledger.find((entry) => entry.id === id)).toEqual({
      id,
      jobTag: '42',
      name: 'job-42',
      instanceType: 'gpu_1x_a10',
      region: 'us-west-1',
      status: 'terminated',
      launchedAt: clock.now() - 3_690_500,
      terminatedAt: clock.now() - 3_600_000,
      priceCentsPerHour: 75,
      billedSeconds: 91,
      costCents: (91 * 75) / 3600,
    });
    // Still running, so still billed up to now.
    expect(ledger.find((entry) => entry.id === other)).toMatchObject({ billedSeconds: 3_690 + 1, status: 'active' });
  });

  it('gives capacity back when an instance is terminated', async () => {
    sim.state.setCapacity('gpu_1x_a10', 'us-west-1', 1);
    const id = await launch();
    expect(sim.state.capacity('gpu_1x_a10', 'us-west-1')).toBe(0);
    await call('POST', '/instance-operations/terminate', { instance_ids: [id] });
    expect(sim.state.capacity('gpu_1x_a10', 'us-west-1')).toBe(1);
  });

  it('stays booting while the host is still starting, even past the boot delay', async () => {
    let release: (ip: string) => void = () => undefined;
    const slow = {
      ...hosts,
      start: () =>
        new Promise<{ ip: string }>((resolve) => {
          release = (ip) => resolve({ ip });
        }),
    };
    const slowSim = await startLambdaSimulator({ apiKey: API_KEY, hosts: slow, rateLimits: false, bootDelayMs: 0 });
    try {
      const slowCall = apiCaller(slowSim.url, API_KEY);
      await slowCall('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
      const id = (await slowCall('POST', '/instance-operations/launch', LAUNCH)).body.data.instance_ids[0];
      expect((await slowCall('GET', `/instances/${id}`)).body.data.status).toBe('booting');
      release('198.51.100.200');
      await waitFor(async () => (await slowCall('GET', `/instances/${id}`)).body.data.ip === '198.51.100.200', {
        timeoutMs: 5000,
        intervalMs: 10,
        description: 'the ip',
      });
    } finally {
      await slowSim.close();
    }
  });

  it('turns unhealthy when the host fails to start', async () => {
    hosts.failNextStarts(1);
    const id = await launch();
    clock.advance(180_000);
    await waitFor(async () => (await call('GET', `/instances/${id}`)).body.data.status === 'unhealthy', {
      timeoutMs: 5000,
      intervalMs: 10,
      description: 'unhealthy',
    });
  });

  it('stops every host still running when it closes', async () => {
    await launch();
    await waitFor(() => hosts.alive().length === 1, { timeoutMs: 5000, intervalMs: 10, description: 'the host to start' });
    await sim.close();
    expect(hosts.alive()).toEqual([]);
    sim = await startLambdaSimulator({ apiKey: API_KEY, hosts, rateLimits: false });
  });
});

import { createMemoryHostBackend, startLambdaSimulator, type LambdaSimulator, type MemoryHostBackend } from '../src';
import { waitFor } from '@inno-train/test-kit';
import { apiCaller, manualClock } from './helpers';

const API_KEY = 'secret_sim-test_faults_0123456789';
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T test';
const LAUNCH = { region_name: 'us-west-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: ['inno'] };

describe('lambda simulator: rate limits', () => {
  let sim: LambdaSimulator;
  let clock: ReturnType<typeof manualClock>;
  let call: ReturnType<typeof apiCaller>;

  beforeEach(async () => {
    clock = manualClock();
    sim = await startLambdaSimulator({
      apiKey: API_KEY,
      hosts: createMemoryHostBackend(),
      now: clock.now,
      rateLimits: { generalPerSecond: 2, launchMinIntervalMs: 12_000, launchPerMinute: 3 },
    });
    call = apiCaller(sim.url, API_KEY);
  });
  afterEach(async () => {
    await sim.close();
  });

  it('answers 429 with Retry-After beyond the general limit, and counts each violation', async () => {
    expect((await call('GET', '/instances')).status).toBe(200);
    clock.advance(400);
    expect((await call('GET', '/ssh-keys')).status).toBe(200);
    const limited = await call('GET', '/instances');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('global/rate-limited');
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await call('GET', '/instances')).status).toBe(429);
    expect(sim.state.counters()).toMatchObject({ tooManyRequests: 2, rateLimitViolations: 2 });
    // Rejected requests use no budget: the window frees up 1 s after the first accepted one.
    clock.advance(600);
    expect((await call('GET', '/instances')).status).toBe(200);
  });

  it('limits launches to one per interval and N per minute, on top of the general limit', async () => {
    clock.advance(1000);
    await call('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
    const launches: number[] = [];
    for (let second = 0; second < 60; second += 1) {
      clock.advance(1000);
      launches.push((await call('POST', '/instance-operations/launch', LAUNCH)).status);
    }
    // Launches at 0, 12 and 24 s; the 5/min budget would allow more, this one is configured to 3.
    expect(launches.filter((status) => status === 200)).toHaveLength(3);
    expect(launches.slice(0, 13).map((status) => status === 200)).toEqual([true, ...Array(11).fill(false), true]);
    expect(sim.state.counters().rateLimitViolations).toBe(57);
  });

  it('sends forced 429s without Retry-After and without counting them as violations', async () => {
    sim.state.faults.rateLimitNext = 2;
    const first = await call('GET', '/instances');
    clock.advance(5000);
    const second = await call('GET', '/instances');
    clock.advance(5000);
    const third = await call('GET', '/instances');
    expect([first.status, second.status, third.status]).toEqual([429, 429, 200]);
    expect(first.headers.get('retry-after')).toBeNull();
    expect(sim.state.counters()).toMatchObject({ tooManyRequests: 2, rateLimitViolations: 0 });
  });
});

describe('lambda simulator: fault switches', () => {
  let sim: LambdaSimulator;
  let hosts: MemoryHostBackend;
  let call: ReturnType<typeof apiCaller>;
  let randoms: number[];

  beforeEach(async () => {
    hosts = createMemoryHostBackend();
    randoms = [];
    sim = await startLambdaSimulator({
      apiKey: API_KEY,
      hosts,
      rateLimits: false,
      bootDelayMs: 20,
      random: () => randoms.shift() ?? 0.99,
    });
    call = apiCaller(sim.url, API_KEY);
    await call('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
  });
  afterEach(async () => {
    await sim.close();
  });

  async function launch(): Promise<string> {
    const res = await call('POST', '/instance-operations/launch', LAUNCH);
    expect(res.status).toBe(200);
    return res.body.data.instance_ids[0];
  }

  it('failRate answers 500 internal-error, 503 provider/internal-unavailable or a 502 HTML page', async () => {
    sim.state.faults.failRate = 0.5;
    randoms.push(0.1, 0.1, 0.1, 0.5, 0.1, 0.9, 0.7);
    const results = [
      await call('GET', '/instances'),
      await call('GET', '/instances'),
      await call('GET', '/instances'),
      await call('GET', '/instances'),
    ];
    expect(results.map((res) => res.status)).toEqual([500, 503, 502, 200]);
    expect(results[0]?.body.error.code).toBe('global/internal-error');
    expect(results[1]?.body.error.code).toBe('provider/internal-unavailable');
    expect(results[2]?.body).toBeUndefined();
    expect(results[2]?.text).toContain('Bad Gateway');
    expect(sim.state.counters().injectedFailures).toBe(3);
  });

  it('launchButFail creates the instance yet answers 500', async () => {
    sim.state.faults.launchButFail = 1;
    const res = await call('POST', '/instance-operations/launch', { ...LAUNCH, tags: [{ key: 'job-id', value: 'j1' }] });
    expect(res.status).toBe(500);
    const listed = (await call('GET', '/instances')).body.data;
    expect(listed).toEqual([expect.objectContaining({ tags: [{ key: 'job-id', value: 'j1' }] })]);
    expect(sim.state.faults.launchButFail).toBe(0);
    expect((await call('POST', '/instance-operations/launch', LAUNCH)).status).toBe(200);
  });

  it('insufficientCapacity and quotaExceeded fail launches whatever /instance-types says', async () => {
    sim.state.faults.insufficientCapacity = true;
    const capacity = await call('POST', '/instance-operations/launch', LAUNCH);
    expect([capacity.status, capacity.body.error.code]).toEqual([400, 'instance-operations/launch/insufficient-capacity']);
    expect((await call('GET', '/instance-types')).body.data.gpu_1x_a10.regions_with_capacity_available).not.toEqual([]);
    sim.state.faults.insufficientCapacity = false;
    sim.state.faults.quotaExceeded = true;
    const quota = await call('POST', '/instance-operations/launch', LAUNCH);
    expect([quota.status, quota.body.error.code]).toEqual([400, 'global/quota-exceeded']);
    expect(sim.state.ledger()).toEqual([]);
  });

  it('nextLaunchStatus unhealthy: the next instance turns unhealthy, never active, and is still billed', async () => {
    sim.state.faults.nextLaunchStatus = 'unhealthy';
    const sick = await launch();
    const healthy = await launch();
    expect(sim.state.faults.nextLaunchStatus).toBeNull();
    await waitFor(async () => (await call('GET', `/instances/${healthy}`)).body.data.status === 'active', {
      timeoutMs: 5000,
      intervalMs: 10,
      description: 'the healthy one active',
    });
    const status = (await call('GET', `/instances/${sick}`)).body.data;
    expect(status.status).toBe('unhealthy');
    expect(status).not.toHaveProperty('ip');
    expect(
      sim.state
        .aliveInstances()
        .map((instance) => instance.id)
        .sort(),
    ).toEqual([sick, healthy].sort());
  });

  it('hangTerminate holds the request, then carries the termination out', async () => {
    const id = await launch();
    sim.state.faults.hangTerminate = 300;
    const started = Date.now();
    await expect(
      call('POST', '/instance-operations/terminate', { instance_ids: [id] }, { signal: AbortSignal.timeout(50) }),
    ).rejects.toThrow();
    await waitFor(() => sim.state.instance(id)?.status === 'terminated', {
      timeoutMs: 5000,
      intervalMs: 10,
      description: 'the hung terminate to complete',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(hosts.alive()).toEqual([]);
  });

  it('killInstanceHost stops the host while the API still says active', async () => {
    const id = await launch();
    await waitFor(async () => (await call('GET', `/instances/${id}`)).body.data.status === 'active', {
      timeoutMs: 5000,
      intervalMs: 10,
      description: 'active',
    });
    await sim.state.killInstanceHost(id);
    expect(hosts.alive()).toEqual([]);
    expect((await call('GET', `/instances/${id}`)).body.data.status).toBe('active');
    expect(sim.state.instance(id)?.hostAlive).toBe(false);
  });

  it('preempt marks the instance preempted, stops the host and the billing, and frees capacity', async () => {
    const id = await launch();
    await waitFor(() => hosts.alive().length === 1, { timeoutMs: 5000, intervalMs: 10, description: 'the host to start' });
    const before = sim.state.capacity('gpu_1x_a10', 'us-west-1');
    await sim.state.preempt(id);
    expect((await call('GET', `/instances/${id}`)).body.data.status).toBe('preempted');
    expect(hosts.alive()).toEqual([]);
    expect(sim.state.capacity('gpu_1x_a10', 'us-west-1')).toBe(before + 1);
    const entry = sim.state.ledger()[0];
    expect(entry?.preemptedAt).toEqual(expect.any(Number));
    // Terminating a preempted instance is allowed and does not hand capacity back twice.
    expect((await call('POST', '/instance-operations/terminate', { instance_ids: [id] })).status).toBe(200);
    expect(sim.state.capacity('gpu_1x_a10', 'us-west-1')).toBe(before + 1);
  });
});

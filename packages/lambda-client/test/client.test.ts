import { createLogger } from '@inno-train/core';
import {
  createLambdaClient,
  isInsufficientCapacity,
  isNotFound,
  isQuotaExceeded,
  LambdaApiError,
  noPacer,
  type LambdaClient,
  type LambdaClientLogger,
} from '../src';
import { waitFor } from '@inno-train/test-kit';
import { API_KEY, PUBLIC_KEY, recordingFetch, startSim, type LambdaSimulator } from './sim';

const TAGS = [{ key: 'job-id', value: 'job-1' }];

describe('lambda client against the simulator: lifecycle and errors', () => {
  let sim: LambdaSimulator;
  let client: LambdaClient;
  let recorder: ReturnType<typeof recordingFetch>;

  beforeEach(async () => {
    sim = await startSim({ terminatedRetentionMs: 60_000 });
    recorder = recordingFetch();
    client = createLambdaClient({
      baseUrl: sim.url,
      apiKey: API_KEY,
      pacer: noPacer,
      fetch: recorder.fetch,
      retryBaseMs: 5,
      retryCapMs: 20,
    });
    await client.addSshKey('inno', PUBLIC_KEY);
  });
  afterEach(async () => {
    await sim.close();
  });

  const launch = () =>
    client.launch({ regionName: 'us-west-1', instanceTypeName: 'gpu_1x_a10', sshKeyNames: ['inno'], name: 'job-1', tags: TAGS });

  it('lists instance types with prices and regions with capacity', async () => {
    const types = await client.listInstanceTypes();
    expect(types.gpu_1x_a10?.instance_type.price_cents_per_hour).toBe(75);
    expect(types.gpu_1x_a10?.regions_with_capacity_available.map((r) => r.name).sort()).toEqual(['us-east-1', 'us-west-1']);
  });

  it('launches, sees booting without ip, then active with ip, terminates, and treats a second terminate as done', async () => {
    const { instanceIds } = await launch();
    expect(instanceIds).toHaveLength(1);
    const id = instanceIds[0]!;
    const booting = await client.getInstance(id);
    expect(booting).toMatchObject({ id, status: 'booting', name: 'job-1', tags: TAGS, ssh_key_names: ['inno'] });
    expect(booting?.ip ?? undefined).toBeUndefined();
    expect(booting?.is_reserved).toBe(false);

    const active = await waitFor(
      async () => {
        const instance = await client.getInstance(id);
        return instance?.status === 'active' && instance.ip ? instance : null;
      },
      { timeoutMs: 5000, intervalMs: 10, description: 'the instance to be active with an ip' },
    );
    expect(active.instance_type?.price_cents_per_hour).toBe(75);
    expect((await client.listInstances()).map((i) => i.id)).toEqual([id]);

    const first = await client.terminate([id]);
    expect(first.terminated.map((i) => [i.id, i.status])).toEqual([[id, 'terminating']]);
    expect(first.alreadyGone).toEqual([]);
    expect(await client.terminate([id])).toEqual({ terminated: [], alreadyGone: [id] });
    expect((await client.getInstance(id))?.status).toBe('terminated');
    expect(sim.state.aliveInstances()).toEqual([]);
  });

  it('terminates what it can when a batch names an instance that is already gone', async () => {
    const id = (await launch()).instanceIds[0]!;
    const gone = 'ffffffffffffffffffffffffffffffff';
    const result = await client.terminate([id, gone]);
    expect(result.terminated.map((i) => i.id)).toEqual([id]);
    expect(result.alreadyGone).toEqual([gone]);
  });

  it('returns null for an instance the API does not know', async () => {
    expect(await client.getInstance('0123456789abcdef0123456789abcdef')).toBeNull();
  });

  it('manages ssh keys', async () => {
    const keys = await client.listSshKeys();
    expect(keys.map((k) => [k.name, k.public_key])).toEqual([['inno', PUBLIC_KEY]]);
    const duplicate = await client.addSshKey('inno', PUBLIC_KEY).catch((err: unknown) => err);
    expect(duplicate).toMatchObject({ code: 'global/invalid-parameters', retryable: false, status: 400 });
    await client.deleteSshKey(keys[0]!.id);
    expect(await client.listSshKeys()).toEqual([]);
  });

  it('surfaces a wrong API key as a non-retryable 401 whose message never contains the key', async () => {
    const wrongKey = 'secret_wrong-key_abcdefghijklmnop';
    const bad = createLambdaClient({ baseUrl: sim.url, apiKey: wrongKey, pacer: noPacer, fetch: recorder.fetch });
    const before = recorder.calls.length;
    const err = await bad.listInstances().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaApiError);
    expect(err).toMatchObject({ code: 'global/invalid-api-key', status: 401, retryable: false, name: 'LambdaApiError' });
    expect(recorder.calls.length - before).toBe(1);
    expect((err as Error).message).not.toContain(wrongKey);
  });

  it('reports insufficient capacity and quota without retrying, through the predicates', async () => {
    sim.state.setCapacity('gpu_1x_a10', 'us-west-1', 0);
    const capacity = await launch().catch((e: unknown) => e);
    expect(isInsufficientCapacity(capacity)).toBe(true);
    expect(capacity).toMatchObject({ retryable: false, outcomeUnknown: false, status: 400 });
    sim.state.setCapacity('gpu_1x_a10', 'us-west-1', 5);
    sim.state.faults.quotaExceeded = true;
    const quota = await launch().catch((e: unknown) => e);
    expect(isQuotaExceeded(quota)).toBe(true);
    expect(isInsufficientCapacity(quota)).toBe(false);
    expect(recorder.count('POST', '/instance-operations/launch')).toBe(2);
  });

  it('reports a missing ssh key on launch as object-does-not-exist, and bad parameters as not retryable', async () => {
    const missing = await client
      .launch({ regionName: 'us-west-1', instanceTypeName: 'gpu_1x_a10', sshKeyNames: ['nope'] })
      .catch((e: unknown) => e);
    expect(isNotFound(missing)).toBe(true);
    const invalid = await client
      .launch({ regionName: 'mars-1', instanceTypeName: 'gpu_1x_a10', sshKeyNames: ['inno'] })
      .catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'global/invalid-parameters', retryable: false });
    expect(recorder.count('POST', '/instance-operations/launch')).toBe(2);
  });

  it('never sends quantity, and sends tags, name and image as the spec names them', async () => {
    let body: Record<string, unknown> = {};
    const spy = recordingFetch(async (url, init, real) => {
      if (url.endsWith('/launch')) body = JSON.parse(String(init?.body)) as Record<string, unknown>;
      return real(url, init);
    });
    const spied = createLambdaClient({ baseUrl: `${sim.url}/`, apiKey: API_KEY, pacer: noPacer, fetch: spy.fetch });
    await spied.launch({
      regionName: 'us-west-1',
      instanceTypeName: 'gpu_1x_a10',
      sshKeyNames: ['inno'],
      name: 'n',
      tags: TAGS,
      image: { family: 'lambda-stack-22-04' },
      userData: '#cloud-config\n',
    });
    expect(body).toEqual({
      region_name: 'us-west-1',
      instance_type_name: 'gpu_1x_a10',
      ssh_key_names: ['inno'],
      name: 'n',
      tags: TAGS,
      image: { family: 'lambda-stack-22-04' },
      user_data: '#cloud-config\n',
    });
  });

  it('accepts the project logger', async () => {
    const logger: LambdaClientLogger = createLogger({ name: 'lambda-client-test', level: 'silent' });
    const logged = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: noPacer, logger });
    expect(await logged.listInstances()).toEqual([]);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryHostBackend, startLambdaSimulator, type LambdaSimulator } from '../src';
import { apiCaller } from './helpers';

const API_KEY = 'secret_sim-test_0123456789abcdef';
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T test';

describe('lambda simulator: envelopes, auth, ssh keys, launch validation', () => {
  let sim: LambdaSimulator;
  let call: ReturnType<typeof apiCaller>;

  beforeEach(async () => {
    sim = await startLambdaSimulator({ apiKey: API_KEY, hosts: createMemoryHostBackend(), rateLimits: false, bootDelayMs: 0 });
    call = apiCaller(sim.url, API_KEY);
  });
  afterEach(async () => {
    await sim.close();
  });

  it('listens on loopback with a base URL ending in /api/v1', () => {
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
  });

  it('answers 401 global/invalid-api-key in the error envelope for a missing or wrong key', async () => {
    for (const authorization of [undefined, 'Bearer wrong-key', 'Token abc', `Basic ${Buffer.from('nope:').toString('base64')}`]) {
      const res = await fetch(`${sim.url}/instances`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string; message: string; suggestion?: string } };
      expect(body.error.code).toBe('global/invalid-api-key');
      expect(typeof body.error.message).toBe('string');
    }
  });

  it('accepts Bearer, Basic base64(key:) and Basic <key>, and wraps success in {data}', async () => {
    const basic = Buffer.from(`${API_KEY}:`).toString('base64');
    for (const authorization of [`Bearer ${API_KEY}`, `Basic ${basic}`, `Basic ${API_KEY}`]) {
      const res = await fetch(`${sim.url}/instances`, { headers: { authorization } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: [] });
    }
  });

  it('lists instance types with regions derived from the remaining capacity', async () => {
    const res = await call('GET', '/instance-types');
    expect(res.status).toBe(200);
    const a10 = res.body.data.gpu_1x_a10;
    expect(a10.instance_type).toEqual({
      name: 'gpu_1x_a10',
      description: '1x A10 (24 GB PCIe)',
      gpu_description: 'A10 (24 GB PCIe)',
      price_cents_per_hour: 75,
      specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 },
    });
    expect(a10.regions_with_capacity_available.map((r: { name: string }) => r.name).sort()).toEqual(['us-east-1', 'us-west-1']);
    expect(a10.regions_with_capacity_available[0]).toHaveProperty('description');

    sim.state.setCapacity('gpu_1x_a10', 'us-west-1', 0);
    const after = await call('GET', '/instance-types');
    expect(after.body.data.gpu_1x_a10.regions_with_capacity_available.map((r: { name: string }) => r.name)).toEqual(['us-east-1']);
  });

  it('adds, lists and deletes ssh keys, and rejects a duplicate name with 400 invalid-parameters', async () => {
    const added = await call('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
    expect(added.status).toBe(200);
    expect(added.body.data).toEqual({ id: expect.stringMatching(/^[0-9a-f]{32}$/), name: 'inno', public_key: PUBLIC_KEY });

    const duplicate = await call('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error.code).toBe('global/invalid-parameters');

    expect((await call('GET', '/ssh-keys')).body.data).toEqual([added.body.data]);
    expect((await call('DELETE', `/ssh-keys/${added.body.data.id}`)).body).toEqual({ data: {} });
    expect((await call('GET', '/ssh-keys')).body.data).toEqual([]);
    const again = await call('DELETE', `/ssh-keys/${added.body.data.id}`);
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('global/invalid-parameters');
  });

  it('generates a key pair OpenSSH accepts when no public key is given', async () => {
    const res = await call('POST', '/ssh-keys', { name: 'generated' });
    expect(res.status).toBe(200);
    const { public_key: publicKey, private_key: privateKey } = res.body.data as { public_key: string; private_key: string };
    expect(privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect((await call('GET', '/ssh-keys')).body.data[0]).not.toHaveProperty('private_key');
    const dir = mkdtempSync(join(tmpdir(), 'sim-key-'));
    try {
      writeFileSync(join(dir, 'key'), privateKey, { mode: 0o600 });
      const derived = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'key')])
        .toString()
        .trim();
      expect(publicKey.split(' ').slice(0, 2).join(' ')).toBe(derived.split(' ').slice(0, 2).join(' '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('launch validation', () => {
    beforeEach(async () => {
      await call('POST', '/ssh-keys', { name: 'inno', public_key: PUBLIC_KEY });
    });
    const valid = { region_name: 'us-west-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: ['inno'] };

    it.each([
      ['a missing region', { ...valid, region_name: undefined }],
      ['a region the spec does not know', { ...valid, region_name: 'mars-1' }],
      ['two ssh keys', { ...valid, ssh_key_names: ['inno', 'inno'] }],
      ['no ssh key', { ...valid, ssh_key_names: [] }],
      ['quantity 2', { ...valid, quantity: 2 }],
      ['a tag key the spec forbids', { ...valid, tags: [{ key: 'Job', value: 'x' }] }],
      ['a name longer than 64', { ...valid, name: 'n'.repeat(65) }],
      ['an unknown instance type', { ...valid, instance_type_name: 'gpu_9x_nope' }],
    ])('rejects %s with 400 global/invalid-parameters', async (_label, body) => {
      const res = await call('POST', '/instance-operations/launch', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('global/invalid-parameters');
      expect(sim.state.counters().launches).toBe(0);
    });

    it('rejects malformed JSON with 400 global/invalid-parameters', async () => {
      const res = await call('POST', '/instance-operations/launch', '{"region_name":');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('global/invalid-parameters');
    });

    it('rejects an unknown ssh key name with 400 global/object-does-not-exist', async () => {
      const res = await call('POST', '/instance-operations/launch', { ...valid, ssh_key_names: ['missing'] });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('global/object-does-not-exist');
      expect(res.body.error.suggestion).toEqual(expect.any(String));
    });

    it('accepts quantity 1 and a body sent without a JSON content type, as curl --data does', async () => {
      const res = await fetch(`${sim.url}/instance-operations/launch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: JSON.stringify({ ...valid, quantity: 1 }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: { instance_ids: string[] } }).data.instance_ids).toEqual([
        expect.stringMatching(/^[0-9a-f]{32}$/),
      ]);
    });

    it('answers insufficient-capacity once a region has no capacity left for the type', async () => {
      sim.state.setCapacity('gpu_1x_a10', 'us-west-1', 1);
      expect((await call('POST', '/instance-operations/launch', valid)).status).toBe(200);
      const res = await call('POST', '/instance-operations/launch', valid);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('instance-operations/launch/insufficient-capacity');
      const elsewhere = await call('POST', '/instance-operations/launch', { ...valid, region_name: 'us-south-1' });
      expect(elsewhere.body.error.code).toBe('instance-operations/launch/insufficient-capacity');
    });
  });

  it('answers 404 global/object-does-not-exist for an unknown instance, and a bare 404 for an unknown route', async () => {
    const res = await call('GET', '/instances/0123456789abcdef0123456789abcdef');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('global/object-does-not-exist');
    const route = await call('GET', '/no-such-endpoint');
    expect(route.status).toBe(404);
    expect(route.body).toBeUndefined();
  });

  it('counts requests per endpoint, with ids folded into the route', async () => {
    await call('GET', '/instances');
    await call('GET', '/instances/abc');
    await call('GET', '/instances/def');
    expect(sim.state.counters().requests).toMatchObject({ 'GET /instances': 1, 'GET /instances/{id}': 2 });
  });
});

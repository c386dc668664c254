import { waitFor } from '@inno-train/test-kit';
import { DEFAULT_TEST_TYPES, getEvents, getRecord, startStack, submitJob, tinyJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(300_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 160,
    instanceTypes: [
      { ...DEFAULT_TEST_TYPES[0]!, capacity: { 'us-east-1': 0, 'us-west-1': 20 } },
      { ...DEFAULT_TEST_TYPES[0]!, name: 'gpu_1x_a100', priceCentsPerHour: 129, capacity: { 'us-east-1': 0, 'us-west-1': 0 } },
      DEFAULT_TEST_TYPES[1]!,
    ],
    extraEnv: { BOOT_DEADLINE_MS: '4000', CAPACITY_POLL_MS: '300', RECONCILE_EVERY_MS: '500', RECONCILE_GRACE_MS: '2000' },
  });
});

afterAll(async () => {
  await stack?.stop();
});

async function launchDirectly(tags: { key: string; value: string }[]): Promise<string> {
  const keyName = stack.lambda.state.sshKeys()[0]!.name;
  const response = await fetch(`${stack.lambda.url}/instance-operations/launch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.secrets.lambdaApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ region_name: 'us-west-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: [keyName], tags }),
  });
  const body = (await response.json()) as { data: { instance_ids: string[] } };
  return body.data.instance_ids[0]!;
}

describe('capacity', () => {
  it('falls back to the next type and region when the first lack capacity', async () => {
    const id = await submitJob(
      stack,
      tinyJob({ type: 'gpu_8x_h100_sxm5', fallbackTypes: ['gpu_1x_a10'], regions: ['us-east-1', 'us-west-1'] }),
    );
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
    expect(job.instance).toMatchObject({ type: 'gpu_1x_a10', region: 'us-west-1' });
  });

  it('waits for capacity when the job allows it, and uses it when it appears', async () => {
    const id = await submitJob(stack, tinyJob({ type: 'gpu_1x_a100', capacityWaitSeconds: 120 }));
    await waitFor(async () => (await getEvents(stack, id)).some((e) => e.message.startsWith('Waiting up to 120 s')), {
      timeoutMs: 30_000,
      description: 'the job to wait for capacity',
    });
    expect(stack.lambda.state.ledger().filter((e) => e.jobTag === id)).toHaveLength(0);
    stack.lambda.state.setCapacity('gpu_1x_a100', 'us-west-1', 1);
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
    expect(job.instance).toMatchObject({ type: 'gpu_1x_a100', priceCentsPerHour: 129 });
  });
});

describe('bad boots', () => {
  it('gives back an instance that stays unhealthy and launches again', async () => {
    stack.lambda.state.faults.nextLaunchStatus = 'unhealthy';
    const id = await submitJob(stack, tinyJob());
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
    expect(job.retiredInstances).toHaveLength(1);
    expect((await getRecord(stack, id)).retiredInstances[0]!.retiredReason).toContain('unhealthy');
    const ledger = stack.lambda.state.ledger().filter((e) => e.jobTag === id);
    expect(ledger).toHaveLength(2);
    expect(ledger.every((e) => e.terminatedAt)).toBe(true);
  });

  it('gives back an instance whose host never answers SSH and launches again', async () => {
    stack.switches.silentHosts = 1;
    const id = await submitJob(stack, tinyJob());
    const job = await waitForJobEnd(stack, id);
    expect(job.status).toBe('succeeded');
    expect((await getRecord(stack, id)).retiredInstances[0]!.retiredReason).toContain('SSH never answered');
    expect(
      stack.lambda.state
        .ledger()
        .filter((e) => e.jobTag === id)
        .every((e) => e.terminatedAt),
    ).toBe(true);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });
});

describe('the reconciler', () => {
  it('terminates an instance of ours whose job is unknown, and never touches an untagged one', async () => {
    const untagged = await launchDirectly([]);
    const orphan = await launchDirectly([
      { key: 'inno-train:job', value: 'j00000000000000000nojob' },
      { key: 'inno-train:launched-at', value: new Date().toISOString() },
      { key: 'inno-train:ns', value: stack.namespace },
    ]);
    await waitFor(() => stack.lambda.state.instance(orphan)?.status === 'terminated', {
      timeoutMs: 30_000,
      description: 'the reconciler to terminate the orphan',
    });
    // Two more listings by the reconciler after the orphan went: the untagged one is still alive.
    const listings = () => stack.lambda.state.counters().requests['GET /instances'] ?? 0;
    const before = listings();
    await waitFor(() => listings() >= before + 2, { timeoutMs: 10_000, description: 'two more reconciler runs' });
    expect(stack.lambda.state.instance(untagged)?.status).toBe('active');
    await fetch(`${stack.lambda.url}/instance-operations/terminate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.secrets.lambdaApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ instance_ids: [untagged] }),
    });
  });
});

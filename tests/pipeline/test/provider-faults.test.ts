import { getEvents, getJob, startStack, submitJob, tinyJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(300_000);

// Our pacing equals the simulator's limits: the simulator counts any request that breaks them.
const LIMITS = { generalPerSecond: 10, launchMinIntervalMs: 300, launchPerMinute: 60 };
const BOOT_DELAY_MS = 500;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ipBase: 140, bootDelayMs: BOOT_DELAY_MS, rateLimits: LIMITS, replicas: { provisioner: 3 } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('the Lambda provider under faults, with three provisioner replicas', () => {
  it('carries jobs to success while 20% of API calls fail, without ever exceeding the rate limits', async () => {
    stack.lambda.state.faults.failRate = 0.2;
    const submitted = new Map<string, number>();
    for (let i = 0; i < 4; i++) {
      const id = await submitJob(stack, tinyJob());
      submitted.set(id, Date.now());
    }
    const jobs = await Promise.all([...submitted.keys()].map((id) => waitForJobEnd(stack, id, 240_000)));
    stack.lambda.state.faults.failRate = 0;

    expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const counters = stack.lambda.state.counters();
    expect(counters.rateLimitViolations).toBe(0);
    expect(counters.injectedFailures).toBeGreaterThan(0);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
    const ledger = stack.lambda.state.ledger();
    for (const job of jobs) expect(ledger.filter((entry) => entry.jobTag === job.id)).toHaveLength(1);

    // Cost on the job equals price x billed seconds of the simulator's ledger, within a second.
    for (const job of jobs) {
      const entry = ledger.find((e) => e.jobTag === job.id)!;
      const billed = (entry.terminatedAt! - entry.launchedAt) / 1000;
      expect(Math.abs(job.cost.instanceSeconds - billed)).toBeLessThan(1);
      expect(Math.abs(job.cost.usd - (entry.priceCentsPerHour / 100) * (billed / 3600))).toBeLessThan(0.01);
    }

    const requests = Object.values(counters.requests).reduce((a, b) => a + b, 0);
    const leaked = ledger.filter((e) => !e.terminatedAt).reduce((sum, e) => sum + e.billedSeconds, 0);
    const toActive = await Promise.all(
      [...submitted.entries()].map(async ([id, at]) => {
        const events = await getEvents(stack, id);
        const active = events.find((e) => / is active$/.test(e.message));
        return Date.parse(active!.at) - at - BOOT_DELAY_MS;
      }),
    );
    process.stdout.write(
      `provider faults: ${counters.tooManyRequests} x 429 received for ${requests} requests, ` +
        `${counters.injectedFailures} injected failures, ${counters.rateLimitViolations} rate-limit violations, ` +
        `leaked instance-seconds ${leaked}, submit->active minus boot delay (ms) ${JSON.stringify(toActive)}\n`,
    );
  });

  it('adopts the instance of a launch whose answer was lost, and launches no second one', async () => {
    stack.lambda.state.faults.launchButFail = 1;
    const id = await submitJob(stack, tinyJob());
    const job = await waitForJobEnd(stack, id, 120_000);
    expect(job.status).toBe('succeeded');
    expect(stack.lambda.state.ledger().filter((entry) => entry.jobTag === id)).toHaveLength(1);
    const events = await getEvents(stack, id);
    expect(events.some((e) => e.message.startsWith('Adopted instance'))).toBe(true);
    expect((await getJob(stack, id)).instance.terminatedAt).toBeTruthy();
  });

  it('stops a job that reaches maxCostUsd, stages out its partial outputs and tears it down', async () => {
    // 75 cents an hour: 0.0002 USD is reached after about a second of instance time.
    const script = `import os, time\nopen(os.path.join(os.environ['OUTPUT_DIR'], 'partial.txt'), 'w').write('so far')\nwhile True:\n    time.sleep(0.2)\n`;
    const id = await submitJob(
      stack,
      tinyJob({ type: 'gpu_1x_a10' }, { maxCostUsd: 0.0002, script: { inline: script, filename: 'train.py' } }),
    );
    const job = await waitForJobEnd(stack, id, 120_000);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'max_cost_exceeded', stage: 'training' });
    expect(job.outputs.map((o: { key: string }) => o.key)).toContain(`jobs/${id}/output/partial.txt`);
    expect(job.cost.usd).toBeGreaterThanOrEqual(0.0002);
    expect(stack.lambda.state.aliveInstances()).toHaveLength(0);
  });
});

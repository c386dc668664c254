/**
 * Prometheus metrics and health probes on real parts: every process serves /livez, /readyz and
 * /metrics on a port of its own (HEALTH_PORT / METRICS_PORT = 0: a free one, read from its log).
 * Two tiny jobs run, one to success and one cancelled while training; what the processes' metrics
 * say afterwards must match what happened: job counts by status against the API's job list, the
 * stage histogram's counts and sums against the jobs' status events, Lambda requests against what
 * the simulator received, SSH calls, the settled cost, and no job id or secret in any label.
 */
import { readFileSync } from 'node:fs';
import { waitFor } from '@inno-train/test-kit';
import { getEvents, getJob, startStack, submitJob, tinyJob, waitForJobEnd, type AppProcess, type Stack } from '../src';

jest.setTimeout(240_000);

/** A training script that reports one step and then waits to be cancelled. */
const WAITING_SCRIPT = String.raw`
import json, time
print(json.dumps({"step": 1, "total_steps": 100, "loss": 1.0}), flush=True)
time.sleep(300)
`;

/** The simulator's request keys for the Lambda client's operation names (packages/lambda-client/src/client.ts). */
const SIM_ENDPOINT: Record<string, string> = {
  listInstanceTypes: 'GET /instance-types',
  launch: 'POST /instance-operations/launch',
  terminate: 'POST /instance-operations/terminate',
  listInstances: 'GET /instances',
  getInstance: 'GET /instances/{id}',
  listSshKeys: 'GET /ssh-keys',
  addSshKey: 'POST /ssh-keys',
  deleteSshKey: 'DELETE /ssh-keys/{id}',
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (label values here never hold quotes or commas). */
function parseMetrics(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    return [{ name: match[1]!, labels, value: Number(match[3]) }];
  });
}

/** Sum of a metric's samples whose labels include `where`. */
function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

let stack: Stack;
/** Each process's health (or, for the API, metrics) server. */
const probes = new Map<string, string>();

/** The port a process's health or metrics server logged at start. */
function probePort(app: AppProcess): number | undefined {
  for (const line of readFileSync(app.logFile, 'utf8').split('\n')) {
    if (!line.includes('"healthServer"')) continue;
    const parsed = JSON.parse(line) as { port?: number };
    if (typeof parsed.port === 'number') return parsed.port;
  }
  return undefined;
}

async function scrape(app: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${probes.get(app)}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return { text, samples: parseMetrics(text) };
}

/** Every process's samples, together (counters are per process: Prometheus sums them the same way). */
async function scrapeAll(): Promise<{ texts: string[]; samples: Sample[] }> {
  const scraped = await Promise.all([...probes.keys()].map(scrape));
  return { texts: scraped.map((s) => s.text), samples: scraped.flatMap((s) => s.samples) };
}

beforeAll(async () => {
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.23.', extraEnv: { HEALTH_PORT: '0', METRICS_PORT: '0' } });
  for (const app of stack.apps) {
    const port = await waitFor(() => probePort(app), { timeoutMs: 10_000, description: `${app.name} to log its health server's port` });
    probes.set(app.name, `http://127.0.0.1:${port}`);
  }
});

afterAll(async () => {
  await stack?.stop();
});

describe('metrics and health probes', () => {
  it('every worker is alive and ready; the API answers its probes on the public port and /metrics only on its own', async () => {
    for (const app of stack.apps.filter((a) => a.app !== 'api')) {
      const base = probes.get(app.name)!;
      expect(await (await fetch(`${base}/livez`)).json()).toEqual({ status: 'ok' });
      const ready = await waitFor(
        async () => {
          const response = await fetch(`${base}/readyz`);
          return response.status === 200 ? response.json() : undefined;
        },
        { timeoutMs: 10_000, description: `${app.name} to be ready` },
      );
      expect(ready).toEqual({ status: 'ok', checks: { redis: true, workers: true } });
    }
    expect(await (await fetch(`${stack.baseUrl}/livez`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${stack.baseUrl}/readyz`)).json()).toEqual({ status: 'ok', redis: true });
    expect((await fetch(`${stack.baseUrl}/metrics`)).status).toBe(404);
    expect((await scrape('api-0')).text).toContain('# TYPE inno_jobs gauge');
  });

  it('after a job that succeeded and one cancelled in training, the metrics match what happened', async () => {
    const succeeded = await submitJob(stack, tinyJob());
    const cancelled = await submitJob(stack, { ...tinyJob(), script: { inline: WAITING_SCRIPT, filename: 'train.py' } });
    // Training and its script running (it printed its step): the monitor started it over SSH.
    await waitFor(async () => (await getJob(stack, cancelled)).progress?.step === 1, {
      timeoutMs: 90_000,
      description: 'the second job to train and report step 1',
    });
    // While it trains, its instance is in the provisioner's listing, which the API reads.
    await waitFor(async () => total((await scrape('api-0')).samples, 'inno_instances', { status: 'active' }) >= 1, {
      timeoutMs: 30_000,
      description: 'inno_instances to show the training job instance as active',
    });
    expect((await stack.api(`/v1/jobs/${cancelled}/cancel`, { method: 'POST' })).status).toBe(200);
    const jobs = [await waitForJobEnd(stack, succeeded), await waitForJobEnd(stack, cancelled)];
    expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'cancelled']);

    await expectJobCountsMatchTheApi();
    await expectStageHistogramMatchesEvents([succeeded, cancelled]);
    await expectLambdaRequestsMatchTheSimulator();
    await expectIdleQueues();
    const { texts, samples } = await scrapeAll();
    expectSshSessions(samples);
    const cost = jobs.reduce((sum, job) => sum + job.cost.usd, 0);
    expect(cost).toBeGreaterThan(0);
    expect(total(samples, 'inno_cost_usd_total')).toBeCloseTo(cost, 6);
    // Gauges read from Redis are the API's alone: a worker serving them would double every sum.
    for (const [name, text] of [...probes.keys()].map((app, i) => [app, texts[i]!] as const)) {
      if (!name.startsWith('api')) expect(text).not.toMatch(/^inno_(jobs|queue_jobs|instances)\{/m);
    }
    // No job id, instance id or secret in any label.
    const all = texts.join('\n');
    const instanceIds = jobs.map((job) => job.instance.id as string);
    for (const value of [
      succeeded,
      cancelled,
      ...instanceIds,
      stack.secrets.apiKey,
      stack.secrets.lambdaApiKey,
      stack.secrets.sshPassphrase,
    ]) {
      expect(all).not.toContain(value);
    }
    process.stdout.write(
      `prometheus: a sample of the API's /metrics\n${(await scrape('api-0')).text
        .split('\n')
        .filter((l) => l.startsWith('inno_jobs'))
        .join('\n')}\n`,
    );
  });
});

async function expectJobCountsMatchTheApi(): Promise<void> {
  const listed = (await stack.api('/v1/jobs?limit=100')).json.data as { status: string }[];
  const byStatus: Record<string, number> = {};
  for (const job of listed) byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
  const samples = (await scrape('api-0')).samples.filter((s) => s.name === 'inno_jobs');
  // Every status is served (zeros included), and each count is the list's.
  expect(samples.length).toBeGreaterThanOrEqual(8);
  for (const sample of samples)
    expect([sample.labels.status, sample.value]).toEqual([sample.labels.status, byStatus[sample.labels.status!] ?? 0]);
  expect(byStatus).toEqual({ succeeded: 1, cancelled: 1 });
}

/**
 * Each status event after the first means the job left the status before it, after the time
 * between the two events: the histogram must have exactly those observations (counts), adding up
 * to exactly those times (sums), once the processes that made the changes observed them.
 */
async function expectStageHistogramMatchesEvents(ids: string[]): Promise<void> {
  const counts: Record<string, number> = {};
  const seconds: Record<string, number> = {};
  for (const id of ids) {
    const changes = (await getEvents(stack, id)).filter((e) => e.type === 'status');
    expect(changes[0]?.data?.status).toBe('queued');
    for (let i = 1; i < changes.length; i++) {
      const left = String(changes[i - 1]!.data?.status);
      counts[left] = (counts[left] ?? 0) + 1;
      seconds[left] = (seconds[left] ?? 0) + (Date.parse(changes[i]!.at) - Date.parse(changes[i - 1]!.at)) / 1000;
    }
  }
  expect(counts).toEqual({ queued: 2, provisioning: 2, staging_in: 2, training: 2, staging_out: 1 });
  const observed = await waitFor(
    async () => {
      const { samples } = await scrapeAll();
      const got = Object.fromEntries(
        Object.keys(counts).map((stage) => [stage, total(samples, 'inno_job_stage_seconds_count', { stage })]),
      );
      return JSON.stringify(got) === JSON.stringify(counts) ? samples : undefined;
    },
    { timeoutMs: 10_000, description: 'inno_job_stage_seconds counts to match the status events' },
  );
  expect(
    observed.filter((s) => s.name === 'inno_job_stage_seconds_count' && !(s.labels.stage! in counts)).every((s) => s.value === 0),
  ).toBe(true);
  for (const [stage, sum] of Object.entries(seconds)) expect(total(observed, 'inno_job_stage_seconds_sum', { stage })).toBeCloseTo(sum, 3);
  // The cancel was observed by the API, which made it.
  expect(total((await scrape('api-0')).samples, 'inno_job_stage_seconds_count', { stage: 'training' })).toBe(1);
}

/** The provisioner keeps calling Lambda (cloud watch, reconciler): compare when nothing moved during the scrape. */
async function expectLambdaRequestsMatchTheSimulator(): Promise<void> {
  const { sim, scraped } = await waitFor(
    async () => {
      const before = JSON.stringify(stack.lambda.state.counters().requests);
      const samples = (await scrape('provisioner-0')).samples.filter((s) => s.name === 'inno_lambda_requests_total');
      const after = JSON.stringify(stack.lambda.state.counters().requests);
      if (before !== after) return undefined;
      const scrapedByEndpoint: Record<string, number> = {};
      for (const s of samples) {
        const key = SIM_ENDPOINT[s.labels.endpoint!] ?? `unknown ${s.labels.endpoint}`;
        scrapedByEndpoint[key] = (scrapedByEndpoint[key] ?? 0) + s.value;
      }
      const simulated = JSON.parse(after) as Record<string, number>;
      return JSON.stringify(sorted(scrapedByEndpoint)) === JSON.stringify(sorted(simulated))
        ? { sim: simulated, scraped: samples }
        : undefined;
    },
    { timeoutMs: 15_000, description: 'inno_lambda_requests_total by endpoint to equal the requests the simulator received' },
  );
  expect(sim['POST /instance-operations/launch']).toBe(2);
  expect(scraped.every((s) => /^\d{3}$/.test(s.labels.code!))).toBe(true);
  expect(total(scraped, 'inno_lambda_requests_total', { endpoint: 'launch', code: '200' })).toBe(2);
}

function sorted(record: Record<string, number>): [string, number][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

/** Once both jobs settled, no stage queue holds work: what the BullMQ gauge says too. */
async function expectIdleQueues(): Promise<void> {
  await waitFor(
    async () => {
      const queued = (await scrape('api-0')).samples.filter((s) => s.name === 'inno_queue_jobs');
      const queues = new Set(queued.map((s) => s.labels.queue));
      const pending = queued.filter((s) => ['waiting', 'active', 'delayed'].includes(s.labels.state!)).reduce((sum, s) => sum + s.value, 0);
      return queues.size >= 5 && pending === 0;
    },
    { timeoutMs: 15_000, description: 'inno_queue_jobs to show every stage queue idle' },
  );
}

function expectSshSessions(samples: Sample[]): void {
  const ssh = samples.filter((s) => s.name === 'inno_ssh_sessions_total');
  process.stdout.write(`prometheus: SSH calls by label\n${ssh.map((s) => `${JSON.stringify(s.labels)} ${s.value}`).join('\n')}\n`);
  expect(total(ssh, 'inno_ssh_sessions_total', { result: 'ok' })).toBeGreaterThan(0);
  expect(total(ssh, 'inno_ssh_sessions_total', { label: 'train:start', result: 'ok', app: 'monitor' })).toBeGreaterThanOrEqual(2);
  expect(total(ssh, 'inno_ssh_sessions_total', { label: 'boot:gpu-check', result: 'ok', app: 'provisioner' })).toBeGreaterThanOrEqual(2);
  expect(new Set(ssh.map((s) => s.labels.app))).toEqual(new Set(['provisioner', 'transfer', 'monitor']));
  for (const s of ssh) expect(s.labels.label).toMatch(/^[a-z][a-z0-9:_-]*$/);
}

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, JobEvent } from '@inno-train/client';
import { waitFor } from '@inno-train/test-kit';
import { createDemoClient, runDemo } from '../src';
import { JOB_ID as ID, publicJob } from './fixtures';

/**
 * runDemo against a scripted fake API and a fake S3 endpoint (real HTTP, real AWS SDK requests):
 * the upload, the submission body, the live output and the exit codes.
 */
const KEY = 'itk_test_key';

async function listen(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The job as it looks on the n-th poll (given what the API has seen so far); the last state repeats. */
type Script = ((seen: { polls: number; cancels: number }) => { job: Partial<Job>; events: JobEvent[] })[];

function fakeApi(script: Script, log: string) {
  const state = {
    polls: 0,
    submitted: null as Record<string, unknown> | null,
    cancels: 0,
    auth: new Set<string>(),
    s3Auth: [] as string[],
  };
  const current = () => script[Math.min(state.polls, script.length) - 1]?.(state) ?? { job: {}, events: [] };
  const base = (): Job => publicJob({ outputUri: `s3://bucket/jobs/${ID}/output/` });
  const handler = (req: IncomingMessage, body: string, res: ServerResponse) => {
    // Where the output redirect points (S3, in the real service): it must get no key.
    if (req.url === '/s3/eval.json') {
      state.s3Auth.push(req.headers.authorization ?? '');
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"accuracy": 0.9}\n');
    }
    state.auth.add(req.headers.authorization ?? '');
    if (req.url === `/v1/jobs/${ID}/outputs`) {
      return json(res, 200, { data: [{ path: 'eval.json', uri: `s3://bucket/jobs/${ID}/output/eval.json`, size: 18 }], hasMore: false });
    }
    if (req.url === `/v1/jobs/${ID}/outputs/eval.json`) {
      return void res.writeHead(302, { location: `http://${req.headers.host}/s3/eval.json`, 'cache-control': 'no-store' }).end();
    }
    if (req.method === 'POST' && req.url === '/v1/jobs') {
      state.submitted = JSON.parse(body) as Record<string, unknown>;
      return json(res, 202, base());
    }
    if (req.url === `/v1/jobs/${ID}`) {
      state.polls += 1;
      return json(res, 200, { ...base(), ...current().job });
    }
    if (req.url === `/v1/jobs/${ID}/events`) return json(res, 200, { data: current().events });
    if (req.url === `/v1/jobs/${ID}/logs`) return void res.writeHead(200, { 'content-type': 'text/plain' }).end(log);
    if (req.url === `/v1/jobs/${ID}/cancel`) {
      state.cancels += 1;
      return json(res, 200, { ...base(), status: 'cancelled' });
    }
    json(res, 404, { error: { code: 'not_found', message: req.url } });
  };
  return { state, handler };
}

let eventIds = 0;
const ev = (message: string, status?: string): JobEvent => ({
  id: ++eventIds,
  at: '2025-01-01T10:00:01.000Z',
  type: status ? 'status' : 'training',
  stage: 'training',
  message,
  ...(status ? { data: { status } } : {}),
});
const instance = {
  id: 'i-1',
  type: 'gpu_1x_a10',
  region: 'us-west-1',
  ip: null,
  status: 'active',
  launchedAt: '2025-01-01T10:00:01.000Z',
  terminatedAt: null,
  priceCentsPerHour: 75,
};

let s3: { server: Server; url: string };
const puts: { path: string; body: string }[] = [];

beforeAll(async () => {
  s3 = await listen((req, body, res) => {
    if (req.method === 'PUT') puts.push({ path: (req.url ?? '').split('?')[0] ?? '', body });
    res.writeHead(200, { etag: '"0"' }).end();
  });
});

/** Closes a fake server and its idle keep-alive connections, which would otherwise hold jest open for seconds. */
function shut(server: Server): void {
  server.close();
  server.closeAllConnections();
}

afterAll(() => shut(s3.server));

beforeEach(() => {
  puts.length = 0;
});

async function withApi(script: Script, log: string, run: (url: string, api: ReturnType<typeof fakeApi>) => Promise<void>) {
  const api = fakeApi(script, log);
  const { server, url } = await listen(api.handler);
  try {
    await run(url, api);
  } finally {
    shut(server);
  }
}

function demoOptions(url: string, output: string[], signal?: AbortSignal) {
  return {
    client: createDemoClient(url, KEY),
    s3: {
      endpoint: s3.url,
      region: 'us-east-1',
      bucket: 'bucket',
      forcePathStyle: true,
      accessKeyId: 'test',
      secretAccessKey: 'test-secret',
    },
    out: { write: (text: string) => output.push(text), isTTY: false },
    instanceType: 'gpu_1x_a10',
    pollIntervalMs: 10,
    signal,
  };
}

const succeeded: Script = [
  () => ({ job: { status: 'queued' }, events: [ev('queued', 'queued')] }),
  () => ({
    job: { status: 'training', instance, progress: { step: 30, totalSteps: 100, loss: 0.5 } },
    events: [ev('queued', 'queued'), ev('Training started', 'training')],
  }),
  () => ({
    job: {
      status: 'succeeded',
      instance,
      finishedAt: '2025-01-01T10:00:12.000Z',
      progress: { step: 100, totalSteps: 100, loss: 0.34 },
      outputs: [{ key: `jobs/${ID}/output/model.json`, size: 4000 }],
    },
    events: [ev('queued', 'queued'), ev('Training started', 'training'), ev('succeeded', 'succeeded')],
  }),
  () => ({
    job: {
      status: 'succeeded',
      instance: { ...instance, status: 'terminated', terminatedAt: '2025-01-01T10:00:12.500Z' },
      finishedAt: '2025-01-01T10:00:12.000Z',
      settledAt: '2025-01-01T10:00:12.500Z',
      cost: { instanceSeconds: 11.5, usd: 0.0024, final: true },
      progress: { step: 100, totalSteps: 100, loss: 0.34 },
      outputs: [{ key: `jobs/${ID}/output/model.json`, size: 4000 }],
    },
    events: [
      ev('queued', 'queued'),
      ev('Training started', 'training'),
      ev('succeeded', 'succeeded'),
      ev('Instance i-1 terminated (confirmed)'),
    ],
  }),
];

describe('runDemo', () => {
  it('uploads the dataset, submits the job and follows it past its finish until it is settled', async () => {
    await withApi(succeeded, '{"step": 1, "loss": 0.78}\n{"step": 100, "loss": 0.34}\n', async (url, api) => {
      const output: string[] = [];
      const result = await runDemo(demoOptions(url, output));
      expect(result.exitCode).toBe(0);
      expect(puts.map((p) => p.path)).toEqual(['/bucket/demo/data/train.csv', '/bucket/demo/data/eval.csv']);
      expect(puts[0]?.body.startsWith('x1,x2,x3,x4,label\n')).toBe(true);
      expect(api.state.auth).toEqual(new Set([`Bearer ${KEY}`]));
      expect(api.state.s3Auth).toEqual(['']);
      expect(output.join('\n')).toContain(`eval.json (18 B, downloaded through the API's redirect from S3): {"accuracy": 0.9}`);
      expect(api.state.submitted).toMatchObject({
        name: 'demo-mlp',
        instance: { type: 'gpu_1x_a10' },
        inputs: { train: 's3://bucket/demo/data/train.csv', eval: 's3://bucket/demo/data/eval.csv' },
        script: { filename: 'train.py' },
        config: { epochs: 8, lr: 0.3, batch_size: 32 },
        checkpoint: { syncSeconds: 5 },
        retry: { onHostLost: 1, onPreempted: 2 },
        metadata: { source: 'npm run demo' },
      });
      expect((api.state.submitted?.script as { inline: string }).inline).toContain('def gradients(');
      const text = output.join('');
      // Each event once, in order, and one progress line per status/step change.
      expect(text.match(/Training started/g)).toHaveLength(1);
      expect(text).toMatch(/queued[\s\S]*training +\[#+\.+\] +30\/100 +loss 0\.5000[\s\S]*succeeded +\[#+\]/);
      expect(text).toContain('Instance i-1 terminated (confirmed)');
      expect(text).toContain(`Job ${ID} succeeded after 12.0s`);
      expect(text).toContain('loss: 0.7800 -> 0.3400 over 2 steps');
      expect(text).toContain(`jobs/${ID}/output/model.json`);
      expect(text).toContain('alive 11.5s');
      expect(text).toMatch(/cost: \$0\.0024 for 11\.5s of instance time \(final, settled \d\d:\d\d:\d\d\)/);
      // It kept polling the finished job until it was settled (the fourth state).
      expect(api.state.polls).toBeGreaterThanOrEqual(4);
    });
  });

  it('reports an instance not confirmed terminated when the job does not settle in time', async () => {
    const unsettled: Script = [
      () => ({
        job: {
          status: 'succeeded',
          instance,
          finishedAt: '2025-01-01T10:00:12.000Z',
          cost: { instanceSeconds: 11, usd: 0.0023, final: false },
        },
        events: [ev('succeeded', 'succeeded')],
      }),
    ];
    await withApi(unsettled, '', async (url, api) => {
      const output: string[] = [];
      const result = await runDemo({ ...demoOptions(url, output), teardownTimeoutMs: 200 });
      expect(result.exitCode).toBe(0);
      expect(result.job.settledAt).toBeNull();
      expect(api.state.polls).toBeGreaterThanOrEqual(2);
      const text = output.join('');
      expect(text).toContain('status active, NOT terminated yet: check it');
      expect(text).toContain('(NOT final: an instance may still bill)');
    });
  });

  it('exits 1 on failure with the error and the log tail', async () => {
    const failed: Script = [
      () => ({
        job: {
          status: 'failed',
          finishedAt: '2025-01-01T10:00:05.000Z',
          settledAt: '2025-01-01T10:00:05.000Z',
          error: { code: 'training_failed', stage: 'training', message: 'exited with code 3' },
        },
        events: [],
      }),
    ];
    await withApi(failed, 'Traceback\nCUDA out of memory (simulated)\n', async (url) => {
      const output: string[] = [];
      const result = await runDemo(demoOptions(url, output));
      expect(result.exitCode).toBe(1);
      const text = output.join('');
      expect(text).toContain('error: training_failed (training): exited with code 3');
      expect(text).toContain('    | CUDA out of memory (simulated)');
    });
  });

  it('cancels the job when interrupted and still waits for the job to end', async () => {
    const controller = new AbortController();
    // Training until the demo cancels it, then cancelled (and settled) on the next poll.
    const script: Script = [
      ({ cancels }) =>
        cancels === 0
          ? { job: { status: 'training', progress: { step: 3, totalSteps: 100 } }, events: [] }
          : {
              job: { status: 'cancelled', finishedAt: '2025-01-01T10:00:05.000Z', settledAt: '2025-01-01T10:00:05.000Z' },
              events: [ev('Training process stopped')],
            },
    ];
    await withApi(script, '', async (url, api) => {
      const output: string[] = [];
      const running = runDemo(demoOptions(url, output, controller.signal));
      await waitFor(() => api.state.polls >= 1, { timeoutMs: 10_000, description: 'the first poll of the job' });
      controller.abort();
      const result = await running;
      expect(api.state.cancels).toBe(1);
      expect(result.exitCode).toBe(1);
      expect(result.job.status).toBe('cancelled');
      expect(output.join('')).toContain('Training process stopped');
    });
  });
});

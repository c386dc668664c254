/**
 * GET /v1/jobs/:id/stream on the whole stack (real Redis, S3 server, Lambda simulator with OpenSSH
 * hosts, the apps as processes) and two API processes: one reader follows a job from submit to
 * `end` on the second API; another follows on the first, which is SIGKILLed mid-stream, and resumes
 * on the second with Last-Event-ID. Both must hold every event once, in order, and every byte of
 * the log once, in order, exactly as the job's events and log routes answer them afterwards.
 */
import { freePort, openSse, socketMeterPreloadPath, waitFor, type SseConnection, type SseMessage } from '@inno-train/test-kit';
import { BUCKET, startApp, startStack, submitJob, type AppProcess, type Stack } from '../src';

jest.setTimeout(240_000);

/** Prints a numbered line every 100 ms for 4 s, with a metrics line every tenth. */
const SCRIPT = String.raw`
import json, time
for i in range(40):
    print(f'line {i}', flush=True)
    if i % 10 == 9:
        print(json.dumps({"step": i + 1, "total_steps": 40, "loss": 1.0 / (i + 1)}), flush=True)
    time.sleep(0.1)
`;

let stack: Stack;
let second: AppProcess;
let secondUrl: string;

beforeAll(async () => {
  stack = await startStack({ ipBase: 10, ipPrefix: '127.0.8.' });
  const port = await freePort();
  secondUrl = `http://127.0.0.1:${port}`;
  // A second API process over the same Redis and namespace: all a replica needs is its own port.
  second = startApp('api', 'api-second', secondApiEnv(stack, port), stack.workDir, socketMeterPreloadPath());
  await waitFor(async () => (await fetch(`${secondUrl}/healthz`).catch(() => null))?.ok, {
    timeoutMs: 20_000,
    description: 'the second API to answer /healthz',
  });
});

afterAll(async () => {
  await second?.stop();
  await stack?.stop();
});

function secondApiEnv(s: Stack, port: number): Record<string, string> {
  return {
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    INNO_NAMESPACE: s.namespace,
    LOG_LEVEL: 'info',
    API_PORT: String(port),
    API_HOST: '127.0.0.1',
    API_ADMIN_KEYS: s.secrets.apiKey,
    S3_ENDPOINT: s.s3.endpoint,
    S3_REGION: s.s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    S3_BUCKET: BUCKET,
    AWS_ACCESS_KEY_ID: s.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s.s3.secretAccessKey,
    API_RATE_LIMIT_PER_MINUTE: '1000000',
  };
}

const follow = (base: string, id: string, lastEventId?: string): Promise<SseConnection> =>
  openSse(`${base}/v1/jobs/${id}/stream`, {
    authorization: `Bearer ${stack.secrets.apiKey}`,
    ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
  });

const data = (messages: SseMessage[], event: string) => messages.filter((m) => m.event === event).map((m) => JSON.parse(m.data));
const logText = (messages: SseMessage[]) =>
  data(messages, 'log')
    .map((piece: { text: string }) => piece.text)
    .join('');

/** Every event once, in order; the log from byte 0 with no gap or overlap; `end` once, last; an id on every message. */
async function expectWholeStream(name: string, id: string, messages: SseMessage[]): Promise<void> {
  const events = (await stack.api(`/v1/jobs/${id}/events?limit=1000`)).json.data;
  const log = (await stack.api(`/v1/jobs/${id}/logs`)).text;
  let offset = 0;
  const gaps: string[] = [];
  for (const piece of data(messages, 'log') as { offset: number; text: string }[]) {
    if (piece.offset !== offset) gaps.push(`expected a piece at ${offset}, got one at ${piece.offset}`);
    offset = piece.offset + Buffer.byteLength(piece.text);
  }
  expect({ name, gaps, missingIds: messages.filter((m) => !m.id).length }).toEqual({ name, gaps: [], missingIds: 0 });
  expect({ name, events: data(messages, 'event') }).toEqual({ name, events });
  expect({ name, log: logText(messages) }).toEqual({ name, log });
  expect({ name, ends: messages.filter((m) => m.event === 'end').length, last: messages.at(-1)?.event }).toEqual({
    name,
    ends: 1,
    last: 'end',
  });
}

describe('following a job on two API replicas', () => {
  let id: string;

  it('keeps every event and log byte once, in order, when the API a reader is on is killed mid-stream', async () => {
    id = await submitJob(stack, { instance: { type: 'gpu_1x_a10' }, script: { inline: SCRIPT, filename: 'train.py' } });
    const onSecond = await follow(secondUrl, id);
    const onFirst = await follow(stack.baseUrl, id);
    expect([onFirst.status, onSecond.status]).toEqual([200, 200]);

    await waitFor(() => (logText(onFirst.messages).match(/^line \d+$/gm)?.length ?? 0) >= 5, {
      timeoutMs: 120_000,
      intervalMs: 20,
      description: 'the reader on the first API to see five lines of training output',
    });
    const firstApi = stack.apps.findIndex((app) => app.app === 'api');
    await stack.killAndRestart(firstApi);
    await waitFor(() => onFirst.isEnded(), { timeoutMs: 5000, description: 'the killed API to drop its stream' });
    const before = [...onFirst.messages];
    expect(before.some((m) => m.event === 'end')).toBe(false);

    const resumed = await follow(secondUrl, id, before.at(-1)!.id);
    expect(resumed.status).toBe(200);
    for (const [name, stream] of [
      ['resumed', resumed],
      ['second', onSecond],
    ] as const) {
      await waitFor(() => stream.isEnded(), { timeoutMs: 120_000, description: `the ${name} stream to reach end` });
    }
    await waitFor(async () => (await fetch(`${stack.baseUrl}/healthz`).catch(() => null))?.ok, {
      timeoutMs: 20_000,
      description: 'the restarted first API',
    });

    const job = (await stack.api(`/v1/jobs/${id}`)).json;
    expect(job.status).toBe('succeeded');
    const after = resumed.messages;
    // Mid-stream: output came both before the kill and after the resume.
    expect(data(before, 'log').length).toBeGreaterThan(0);
    expect(logText(after)).toMatch(/line 39/);
    await expectWholeStream('killed and resumed', id, [...before, ...after]);
    await expectWholeStream('followed on the second API', id, onSecond.messages);
    expect(logText(onSecond.messages).match(/^line \d+$/gm)).toHaveLength(40);
    expect(data(onSecond.messages, 'progress').map((p: { step: number }) => p.step)).toContain(40);
    expect(data(onSecond.messages, 'end')).toEqual([{ status: 'succeeded', settledAt: job.settledAt }]);
    const lines = (messages: SseMessage[]) => logText(messages).match(/^line \d+$/gm)?.length ?? 0;
    process.stdout.write(
      `stream: killed API after ${before.length} messages (${lines(before)} lines); resumed on the other for ` +
        `${after.length} more (${lines(after)} lines); the reader on the other API got ${onSecond.messages.length}\n`,
    );
  });

  it('gives a reader that comes after the end the same whole stream on either API, and 204 once it has seen end', async () => {
    const first = await follow(stack.baseUrl, id);
    const other = await follow(secondUrl, id);
    for (const stream of [first, other]) await waitFor(() => stream.isEnded(), { timeoutMs: 20_000, description: 'the stream to end' });
    await expectWholeStream('late, first API', id, first.messages);
    await expectWholeStream('late, second API', id, other.messages);
    const strip = (messages: SseMessage[]) => messages.map(({ at: _at, ...message }) => message);
    expect(strip(first.messages)).toEqual(strip(other.messages));
    const again = await follow(secondUrl, id, first.messages.at(-1)!.id);
    expect(again.status).toBe(204);
  });
});

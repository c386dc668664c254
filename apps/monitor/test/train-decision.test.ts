import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import type { PollResult } from '../src/host-commands';
import { consumeChunk, decideAfterPoll, limitReached, trainingOutcome } from '../src/train-decision';

const now = Date.parse('2026-01-01T12:00:00.000Z');
const job = (spec: Partial<JobRecord['spec']> = {}, startedAt: string | null = '2026-01-01T11:00:00.000Z'): JobRecord => {
  const base = {
    instance: { type: 'gpu_1x_a10' },
    inputs: {},
    script: { inline: '', filename: 'train.py' },
    command: 'python3 train.py',
    outputUri: 's3://b/o/',
  };
  const instance = {
    id: 'i-1',
    type: 'gpu_1x_a10',
    region: 'us-east-1',
    ip: '10.0.0.1',
    status: 'active',
    launchedAt: '2026-01-01T10:00:00.000Z',
    terminatedAt: null,
    priceCentsPerHour: 100,
  };
  const fields = { id: 'j0000000000000000000001', spec: { ...base, ...spec }, now: '2026-01-01T10:00:00.000Z' };
  return createJobRecord(fields, {
    status: 'training',
    startedAt: '2026-01-01T10:00:00.000Z',
    instance,
    training: { startedAt, exitCode: null },
  });
};
const poll = (train: PollResult['train'], logSize = 0, chunk = ''): PollResult => ({ train, logSize, chunk });
const running = { state: 'running' as const };

describe('reading a poll of the training log (pure)', () => {
  it.each([
    ['running: whole lines only, a metrics line is never cut', running, 'a\n{"step":1', 100, { consumed: 2, text: 'a\n' }],
    ['running with no full line yet: nothing', running, '{"step":1', 100, { consumed: 0, text: '' }],
    ['running with one line longer than a chunk: all of it', running, 'x'.repeat(10), 10, { consumed: 10, text: 'x'.repeat(10) }],
    ['ended: everything, the last line included', { state: 'exited' as const, exitCode: 0 }, 'a\nb', 100, { consumed: 3, text: 'a\nb' }],
    ['multi-byte characters: counted in bytes', running, 'é\n', 100, { consumed: 3, text: 'é\n' }],
  ])('%s', (_name, train, chunk, chunkBytes, expected) => {
    expect(consumeChunk(poll(train, 0, chunk), chunkBytes)).toEqual(expected);
  });
});

describe("the job's limits (pure)", () => {
  it.each([
    ['no limits', {}, null],
    ['runtime under maxRuntimeSeconds', { maxRuntimeSeconds: 3601 }, null],
    [
      'runtime past maxRuntimeSeconds',
      { maxRuntimeSeconds: 3599 },
      { code: 'max_runtime_exceeded', message: 'maxRuntimeSeconds (3599) reached' },
    ],
    // Two hours at $1/h: $2.
    ['cost under maxCostUsd', { maxCostUsd: 2.5 }, null],
    ['cost at maxCostUsd', { maxCostUsd: 2 }, { code: 'max_cost_exceeded', message: 'maxCostUsd (2) reached' }],
  ])('%s', (_name, spec, expected) => {
    expect(limitReached(job(spec), now)).toEqual(expected);
  });
});

describe('deciding after a poll (pure)', () => {
  const base = { job: job(), now, pollMs: 10_000 };
  it.each([
    [
      'running, log read up to its end: poll again later',
      poll(running, 12),
      { offset: 10 },
      2,
      { kind: 'wait', delayMs: 10_000, step: { offset: 12 } },
    ],
    ['running, more log on the host: read it at once', poll(running, 500), { offset: 10 }, 2, { kind: 'read_more', step: { offset: 12 } }],
    [
      'exited with more log to read: read it first',
      poll({ state: 'exited', exitCode: 0 }, 500),
      {},
      100,
      { kind: 'read_more', step: { offset: 100 } },
    ],
    [
      'exited, log all read: finish with its exit code',
      poll({ state: 'exited', exitCode: 3 }, 100),
      {},
      100,
      { kind: 'finish', step: { offset: 100 }, exitCode: 3 },
    ],
    [
      'process gone without an exit code: finish, exit code unknown',
      poll({ state: 'gone' }, 0),
      {},
      0,
      { kind: 'finish', step: { offset: 0 }, exitCode: null },
    ],
    [
      'job directory gone: finish, exit code unknown',
      poll({ state: 'nodir' }, 0),
      {},
      0,
      { kind: 'finish', step: { offset: 0 }, exitCode: null },
    ],
    ['starting: poll again later', poll({ state: 'starting' }, 0), {}, 0, { kind: 'wait', delayMs: 10_000, step: { offset: 0 } }],
    // The live tail stored bytes first: the step's own append was refused and it goes on from the
    // stored offset (consumed = stored - from, more than the poll read itself).
    [
      'running, the tail stored past the poll: wait from the stored offset',
      poll(running, 150),
      { offset: 100 },
      60,
      { kind: 'wait', delayMs: 10_000, step: { offset: 160 } },
    ],
    [
      'exited, the tail stored part of the rest: read on from the stored offset',
      poll({ state: 'exited', exitCode: 0 }, 200),
      { offset: 100 },
      50,
      { kind: 'read_more', step: { offset: 150 } },
    ],
    [
      'exited, the tail stored all of it: finish',
      poll({ state: 'exited', exitCode: 0 }, 200),
      { offset: 100 },
      100,
      { kind: 'finish', step: { offset: 200 }, exitCode: 0 },
    ],
  ])('%s', (_name, polled, step, consumed, expected) => {
    expect(decideAfterPoll({ ...base, poll: polled, step, consumed })).toEqual(expected);
  });

  it('stops a command past its limit once, then keeps polling until it ends', () => {
    const over = job({ maxRuntimeSeconds: 60 });
    const first = decideAfterPoll({ ...base, job: over, poll: poll(running, 0), step: {}, consumed: 0 });
    expect(first).toEqual({
      kind: 'stop',
      step: { offset: 0, killing: 'max_runtime_exceeded' },
      reason: 'maxRuntimeSeconds (60) reached',
      delayMs: 10_000,
    });
    expect(decideAfterPoll({ ...base, job: over, poll: poll(running, 0), step: first.step, consumed: 0 })).toMatchObject({ kind: 'wait' });
  });
});

describe('how training ended (pure)', () => {
  const tail = () => 'Traceback ...\nValueError: bad';
  it.each([
    ['exit code 0: success', undefined, 0, null],
    [
      'a non-zero exit code: training_failed, with the log tail',
      undefined,
      2,
      {
        code: 'training_failed',
        message: 'Training command exited with code 2. Last lines of its log:\nTraceback ...\nValueError: bad',
        stage: 'training',
      },
    ],
    [
      'no exit code: training_process_lost',
      undefined,
      null,
      {
        code: 'training_process_lost',
        message: 'The training process disappeared without an exit code (host restarted?)',
        stage: 'training',
      },
    ],
    [
      'stopped for runtime, whatever its exit code',
      'max_runtime_exceeded' as const,
      143,
      { code: 'max_runtime_exceeded', message: 'Training ran longer than maxRuntimeSeconds (60) and was stopped', stage: 'training' },
    ],
    [
      'stopped for cost',
      'max_cost_exceeded' as const,
      null,
      { code: 'max_cost_exceeded', message: "The job's instances reached maxCostUsd (5) and training was stopped", stage: 'training' },
    ],
  ])('%s', (_name, killing, exitCode, expected) => {
    expect(trainingOutcome(job({ maxRuntimeSeconds: 60, maxCostUsd: 5 }), killing, exitCode, tail)).toEqual(expected);
  });
});

import { decideTransferCheck, setAsideLogFailure, type DetachedState, type TransferStatus } from '../src/decide';

const now = 1_000_000;
const base = {
  now,
  deadlineMs: 60_000,
  pollMs: 3000,
  maxRestarts: 3,
  what: { noun: 'inputs' as const, failedCode: 'input_transfer_failed' as const, failedMessage: 'Could not fetch inputs onto the host' },
};
const running: DetachedState<TransferStatus> = { state: 'running' };
const stopped: DetachedState<TransferStatus> = { state: 'not_running' };
const done = (status: TransferStatus): DetachedState<TransferStatus> => ({ state: 'done', status });

describe('deciding on a transfer script from what the host says (pure)', () => {
  it.each([
    [
      'running within its deadline: look again after a poll',
      running,
      { phase: 'running' as const, startedAt: now - 59_000 },
      { kind: 'wait', delayMs: 3000, step: { phase: 'running', startedAt: now - 59_000 } },
    ],
    [
      'running past its deadline: transfer_timeout',
      running,
      { phase: 'running' as const, startedAt: now - 60_001 },
      { kind: 'fail', code: 'transfer_timeout', message: 'Fetching inputs took longer than 60 s' },
    ],
    [
      'stopped without a result the first time: start it again',
      stopped,
      { phase: 'running' as const },
      { kind: 'restart', step: { phase: 'running', restarts: 1 } },
    ],
    ['stopped without a result a third time: start it again', stopped, { restarts: 2 }, { kind: 'restart', step: { restarts: 3 } }],
    [
      'stopped without a result past the restarts allowed: fail',
      stopped,
      { restarts: 3 },
      { kind: 'fail', code: 'input_transfer_failed', message: 'The inputs script stopped without a result 4 times' },
    ],
    [
      'ended with failures: fail, naming every one',
      done({
        ok: false,
        failed: [
          { path: 'inputs/a', reason: 'HTTP 403' },
          { path: 'inputs/b', reason: 'size 3, expected 4' },
        ],
      }),
      {},
      {
        kind: 'fail',
        code: 'input_transfer_failed',
        message: 'Could not fetch inputs onto the host: inputs/a (HTTP 403), inputs/b (size 3, expected 4)',
      },
    ],
    [
      'ended with failures it did not name: fail all the same',
      done({ ok: false }),
      {},
      { kind: 'fail', code: 'input_transfer_failed', message: 'Could not fetch inputs onto the host: unknown error' },
    ],
    ['ended well: finished, with its status', done({ ok: true, bytes: 42 }), {}, { kind: 'finished', status: { ok: true, bytes: 42 } }],
  ])('%s', (_name, state, step, expected) => {
    expect(decideTransferCheck({ ...base, state, step })).toEqual(expected);
  });

  it('says what moves and why it failed for outputs too', () => {
    const what = {
      noun: 'outputs' as const,
      failedCode: 'output_transfer_failed' as const,
      failedMessage: 'Could not upload outputs',
      failedSuffix: '; training had failed: training_failed',
    };
    expect(decideTransferCheck({ ...base, what, state: running, step: { startedAt: 0 } })).toMatchObject({
      message: 'Uploading outputs took longer than 60 s',
    });
    expect(
      decideTransferCheck({ ...base, what, state: done({ ok: false, failed: [{ path: 'output/m.bin', reason: 'HTTP 500' }] }), step: {} }),
    ).toEqual({
      kind: 'fail',
      code: 'output_transfer_failed',
      message: 'Could not upload outputs: output/m.bin (HTTP 500); training had failed: training_failed',
    });
  });
});

describe('setAsideLogFailure', () => {
  const partsOf = { 'output/big.bin': [{ partNumber: 1, etag: '"a"' }] };
  it('turns a result whose only failure is the log into a success, and says why the log failed', () => {
    const status = { ok: false, failed: [{ path: 'train.log', reason: 'curl exit 22, HTTP 403' }], bytes: 5, parts: partsOf };
    expect(setAsideLogFailure(status, 'train.log')).toEqual({
      status: { ok: true, failed: [], bytes: 5, parts: partsOf },
      logFailure: 'curl exit 22, HTTP 403',
    });
  });
  it('keeps the outputs failures (the job still fails for those)', () => {
    const status = {
      ok: false,
      failed: [
        { path: 'output/a.bin', reason: 'not a regular file' },
        { path: 'train.log', reason: 'curl exit 7, HTTP 000' },
      ],
    };
    expect(setAsideLogFailure(status, 'train.log')).toEqual({
      status: { ok: false, failed: [{ path: 'output/a.bin', reason: 'not a regular file' }] },
      logFailure: 'curl exit 7, HTTP 000',
    });
  });
  it('leaves a result without a log failure as it is', () => {
    const status = { ok: false, failed: [{ path: '', reason: 'python3 or curl is missing on the host' }], bytes: 0 };
    expect(setAsideLogFailure(status, 'train.log')).toEqual({ status, logFailure: null });
    expect(setAsideLogFailure({ ok: true }, 'train.log')).toEqual({ status: { ok: true }, logFailure: null });
  });
});

/**
 * watchTransfer with a fake HostExecutor: the test plays the host's answer to wait-task.sh chunk by
 * chunk (stream) or whole (exec), and sees what reaches onProgress and what the watch answers.
 */
import type { ExecOptions, ExecResult, HostExecutor, HostTarget, StreamHandlers, StreamOptions, StreamResult } from '@inno-train/host-port';
import { HostAnswerError, taskFiles, waitTaskCommand, type TransferProgressFile } from '@inno-train/host-protocol';
import { watchTransfer } from '../src/host-status';

const JOB = 'j00test0000000000000001';
const target: HostTarget = { host: 'gpu.example', port: 22, username: 'ubuntu', privateKey: 'not a key' };

const progress = (bytesDone: number): TransferProgressFile => ({
  bytesDone,
  bytesTotal: 1000,
  bytesPerSecond: 10,
  filesDone: 0,
  files: 2,
  retries: 0,
});
const progressLine = (bytesDone: number) => `progress=${JSON.stringify(progress(bytesDone))}\n`;
const STAGE_IN_DONE = 'state=done {"exitCode":0,"result":{"ok":true,"failed":[],"bytes":1000,"skipped":0,"verified":2}}\n';
const STAGE_OUT_DONE =
  'state=done {"exitCode":0,"result":{"ok":true,"failed":[],"bytes":5,"parts":{"output/x":[{"partNumber":1,"etag":"\\"e\\""}]}}}\n';

/** Waits for `check` to hold, looking every 5 ms, failing with `what` after 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface StreamCall {
  command: string;
  handlers: StreamHandlers;
  options: StreamOptions;
  /** Sends stdout as the host would, in chunks of any size. */
  send(text: string): void;
  end(): void;
  fail(error: Error): void;
}

/** An executor whose stream the test drives; aborting the signal rejects with its reason, as the real ones do. */
function streamingHost() {
  const calls: StreamCall[] = [];
  const host: HostExecutor = {
    exec: () => Promise.reject(new Error('exec is not used when the executor streams')),
    upload: () => Promise.reject(new Error('not used')),
    probe: () => Promise.resolve(true),
    stream: (_target, command, handlers, options) =>
      new Promise<StreamResult>((resolve, reject) => {
        options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true });
        calls.push({
          command,
          handlers,
          options,
          send: (text) => handlers.onStdout(Buffer.from(text, 'utf8')),
          end: () => resolve({ exitCode: 0 }),
          fail: reject,
        });
      }),
  };
  return { host, calls, call: () => calls[0]! };
}

/** An executor without stream: exec answers `stdout` and records how it was called. */
function execHost(stdout: string) {
  const calls: { command: string; options: ExecOptions | undefined }[] = [];
  const host: HostExecutor = {
    exec: (_target, command, options) => {
      calls.push({ command, options });
      const result: ExecResult = { stdout, stderr: '', exitCode: 0, signal: null, stdoutTruncated: false, stderrTruncated: false };
      return Promise.resolve(result);
    },
    upload: () => Promise.reject(new Error('not used')),
    probe: () => Promise.resolve(true),
  };
  return { host, calls };
}

describe('watchTransfer over a stream', () => {
  it('hands on progress lines split across chunks, in order, and parses the final state with the stage-in schema', async () => {
    const { host, calls, call } = streamingHost();
    const seen: TransferProgressFile[] = [];
    const watch = watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 20_000,
      timeoutMs: 5000,
      onProgress: (p) => {
        seen.push(p);
        return true;
      },
    });
    await until(() => calls.length === 1, 'the stream to start');
    expect(call().command).toBe(waitTaskCommand(JOB, 'stage-in', { waitMs: 20_000, progressFile: taskFiles('stage-in').progress }));
    expect(call().options.label).toBe('stage-in:check');

    const first = progressLine(100);
    call().send('a login banner\n' + first.slice(0, 20));
    call().send(first.slice(20, -1));
    expect(seen).toEqual([]);
    call().send('\n' + progressLine(200).slice(0, 9));
    await until(() => seen.length === 1, 'the first progress');
    call().send(progressLine(200).slice(9) + STAGE_IN_DONE.slice(0, 15));
    await until(() => seen.length === 2, 'the second progress');
    call().send(STAGE_IN_DONE.slice(15));
    call().end();

    expect(await watch).toEqual({ state: 'done', status: { ok: true, failed: [], bytes: 1000, skipped: 0, verified: 2 } });
    expect(seen).toEqual([progress(100), progress(200)]);
  });

  it('parses the final state of a stage-out with the stage-out schema', async () => {
    const { host, calls, call } = streamingHost();
    const watch = watchTransfer(host, target, JOB, 'stage-out', { waitMs: 1000, timeoutMs: 1000 });
    await until(() => calls.length === 1, 'the stream to start');
    expect(call().command).toContain(`INNO_PROGRESS_FILE=${taskFiles('stage-out').progress}`);
    call().send(progressLine(1) + STAGE_OUT_DONE);
    call().end();
    expect(await watch).toEqual({
      state: 'done',
      status: { ok: true, failed: [], bytes: 5, parts: { 'output/x': [{ partNumber: 1, etag: '"e"' }] } },
    });
  });

  it('hands on only the latest of several progress lines that arrive together', async () => {
    const { host, calls, call } = streamingHost();
    const seen: number[] = [];
    const watch = watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 1000,
      timeoutMs: 1000,
      onProgress: (p) => {
        seen.push(p.bytesDone);
        return true;
      },
    });
    await until(() => calls.length === 1, 'the stream to start');
    call().send(progressLine(1) + progressLine(2) + progressLine(3));
    call().send('state=running\n');
    call().end();
    expect(await watch).toEqual({ state: 'running' });
    expect(seen).toEqual([3]);
  });

  // Lines that arrive while a write is slow are not all written afterwards: the newest replaces the rest.
  it('lets a newer progress line replace one still queued behind a slow write', async () => {
    const { host, calls, call } = streamingHost();
    const seen: number[] = [];
    let release: () => void = () => undefined;
    const slowWrite = new Promise<void>((resolve) => (release = resolve));
    const watch = watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 1000,
      timeoutMs: 1000,
      onProgress: async (p) => {
        seen.push(p.bytesDone);
        if (p.bytesDone === 1) await slowWrite;
        return true;
      },
    });
    await until(() => calls.length === 1, 'the stream to start');
    call().send(progressLine(1));
    await until(() => seen.length === 1, 'the first write to start');
    call().send(progressLine(2));
    call().send(progressLine(3));
    release();
    call().send(STAGE_IN_DONE);
    call().end();
    await watch;
    expect(seen).toEqual([1, 3]);
  });

  it('stops the stream when onProgress answers false, hands on nothing more, and answers running', async () => {
    const { host, calls, call } = streamingHost();
    const seen: number[] = [];
    const watch = watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 20_000,
      timeoutMs: 5000,
      onProgress: (p) => {
        seen.push(p.bytesDone);
        return false;
      },
    });
    await until(() => calls.length === 1, 'the stream to start');
    expect(call().options.signal.aborted).toBe(false);
    call().send(progressLine(1));
    await until(() => call().options.signal.aborted, 'the stream to be aborted');
    expect(String(call().options.signal.reason)).toMatch(/left the stage/);
    call().send(progressLine(2));
    expect(await watch).toEqual({ state: 'running' });
    expect(seen).toEqual([1]);
  });

  it('does not fail the watch when writing the progress fails', async () => {
    const { host, calls, call } = streamingHost();
    let tries = 0;
    const watch = watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 1000,
      timeoutMs: 1000,
      onProgress: () => {
        tries++;
        return Promise.reject(new Error('redis is down'));
      },
    });
    await until(() => calls.length === 1, 'the stream to start');
    call().send(progressLine(1));
    await until(() => tries === 1, 'the write to be tried');
    call().send(progressLine(2) + STAGE_IN_DONE);
    call().end();
    expect(await watch).toMatchObject({ state: 'done' });
    expect(tries).toBe(2);
  });

  it('aborts the stream once waitMs + timeoutMs have passed, and fails with the reason', async () => {
    const { host, calls, call } = streamingHost();
    const startedAt = Date.now();
    const watch = watchTransfer(host, target, JOB, 'stage-in', { waitMs: 30, timeoutMs: 20 });
    await until(() => calls.length === 1, 'the stream to start');
    await expect(watch).rejects.toThrow('stage-in check took longer than expected');
    expect(call().options.signal.aborted).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(45);
  });

  it('fails with the executor’s error when the stream fails on its own', async () => {
    const { host, calls, call } = streamingHost();
    const watch = watchTransfer(host, target, JOB, 'stage-in', { waitMs: 1000, timeoutMs: 1000, onProgress: () => true });
    await until(() => calls.length === 1, 'the stream to start');
    call().send(progressLine(1));
    call().fail(new Error('connection reset'));
    await expect(watch).rejects.toThrow('connection reset');
  });

  it('skips malformed progress lines and hands on the good ones', async () => {
    const { host, calls, call } = streamingHost();
    const seen: number[] = [];
    const watch = watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 1000,
      timeoutMs: 1000,
      onProgress: (p) => {
        seen.push(p.bytesDone);
        return true;
      },
    });
    await until(() => calls.length === 1, 'the stream to start');
    call().send(progressLine(1));
    await until(() => seen.length === 1, 'the first progress');
    call().send('progress=not json\n');
    call().send('progress={"bytesDone":5}\n');
    call().send(`progress=${JSON.stringify({ ...progress(6), bytesTotal: -1 })}\n`);
    call().send(`progress=${JSON.stringify({ ...progress(7), files: 'two' })}\n`);
    call().send(progressLine(8) + 'progress={oops\n');
    call().send(STAGE_IN_DONE);
    call().end();
    expect(await watch).toMatchObject({ state: 'done' });
    expect(seen).toEqual([1, 8]);
  });

  it('throws HostAnswerError for a malformed state line', async () => {
    for (const answer of [
      'state=done {"exitCode":0,"result":{"ok":"yes","failed":[],"bytes":0,"skipped":0}}\n',
      'state=done {not json\n',
      'state=finished\n',
      progressLine(1),
      // A stage-out result is not a stage-in one (no `skipped`).
      STAGE_OUT_DONE,
    ]) {
      const { host, calls, call } = streamingHost();
      const watch = watchTransfer(host, target, JOB, 'stage-in', { waitMs: 1000, timeoutMs: 1000 });
      await until(() => calls.length === 1, 'the stream to start');
      call().send(answer);
      call().end();
      const error: unknown = await watch.then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(HostAnswerError);
      expect(error).toMatchObject({ code: 'host_answer_invalid', name: 'HostAnswerError' });
    }
  });
});

describe('watchTransfer without a stream', () => {
  it('execs the wait with a timeout of waitMs + timeoutMs and hands on the last good progress line once', async () => {
    const { host, calls } = execHost(`${progressLine(1)}${progressLine(2)}progress=garbage\n${STAGE_IN_DONE}`);
    const seen: TransferProgressFile[] = [];
    const state = await watchTransfer(host, target, JOB, 'stage-in', {
      waitMs: 20_000,
      timeoutMs: 7000,
      onProgress: (p) => {
        seen.push(p);
        return true;
      },
    });
    expect(calls).toEqual([
      {
        command: waitTaskCommand(JOB, 'stage-in', { waitMs: 20_000, progressFile: taskFiles('stage-in').progress }),
        options: { timeoutMs: 27_000, label: 'stage-in:check' },
      },
    ]);
    expect(seen).toEqual([progress(2)]);
    expect(state).toEqual({ state: 'done', status: { ok: true, failed: [], bytes: 1000, skipped: 0, verified: 2 } });
  });

  it('hands on nothing without a good progress line, and reads running, not_running and a null result', async () => {
    const seen: TransferProgressFile[] = [];
    const onProgress = (p: TransferProgressFile) => {
      seen.push(p);
      return true;
    };
    const watch = (stdout: string, task: 'stage-in' | 'stage-out' = 'stage-out') =>
      watchTransfer(execHost(stdout).host, target, JOB, task, { waitMs: 10, timeoutMs: 10, onProgress });
    expect(await watch('progress=nope\nstate=running\n')).toEqual({ state: 'running' });
    expect(await watch('state=not_running\n')).toEqual({ state: 'not_running' });
    expect(await watch('state=no_job_dir\n')).toEqual({ state: 'not_running' });
    expect(await watch('state=done {"exitCode":1,"result":null}\n', 'stage-in')).toEqual({ state: 'not_running' });
    expect(await watch(STAGE_OUT_DONE)).toMatchObject({ state: 'done', status: { bytes: 5 } });
    expect(seen).toEqual([]);
  });

  it('throws HostAnswerError for a malformed state line', async () => {
    const { host } = execHost(`${progressLine(1)}state=done {"exitCode":"0","result":null}\n`);
    await expect(watchTransfer(host, target, JOB, 'stage-out', { waitMs: 10, timeoutMs: 10 })).rejects.toMatchObject({
      code: 'host_answer_invalid',
    });
  });
});

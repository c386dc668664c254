import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import { latestProgress } from '../src/metrics';
import { killCommand, parsePoll, pollCommand, renderRunScript, runScriptPath, startCommandWithScript } from '../src/host-commands';

function job(overrides: Partial<JobRecord['spec']> = {}): JobRecord {
  const spec = {
    instance: { type: 'gpu_1x_a10' },
    inputs: {},
    script: { inline: '', filename: 'train.py' },
    command: 'true',
    outputUri: 's3://b/o/',
  };
  return createJobRecord({ id: 'j00test0000000000000001', spec: { ...spec, ...overrides }, now: '' }, { status: 'training' });
}

describe('metrics lines', () => {
  it('takes the last JSON line with a numeric step, numbers only, total_steps as totalSteps', () => {
    const text = [
      'loading',
      '{"step": 1, "loss": 2.5}',
      '{"not": "metrics"}',
      '{"step": 2, "total_steps": 10, "epoch": 1, "loss": 1.5, "lr": 0.001, "note": "text"}',
      '{"step": "3"}',
      '{broken',
    ].join('\n');
    expect(latestProgress(text)).toEqual({ step: 2, totalSteps: 10, epoch: 1, loss: 1.5, lr: 0.001 });
    expect(latestProgress('no metrics here')).toBeNull();
  });
});

describe('the training task on a host', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'inno-home-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const hostEnv = () => ({ HOME: home, PATH: process.env.PATH });
  const dirOf = (record: JobRecord) => join(home, 'inno-train', record.id);

  /** Uploads the run script where the step does, and runs it as the task runner would. */
  function runOnHost(record: JobRecord): { log: string; exitCode: number | null } {
    const dir = dirOf(record);
    mkdirSync(join(dir, '.inno'), { recursive: true });
    mkdirSync(join(dir, 'inputs', 'train'), { recursive: true });
    writeFileSync(join(home, runScriptPath(record)), renderRunScript(record));
    const run = spawnSync('bash', [join(home, runScriptPath(record))], { env: hostEnv(), encoding: 'utf8' });
    return { log: readFileSync(join(dir, 'train.log'), 'utf8'), exitCode: run.status };
  }

  const poll = (record: JobRecord, offset: number, chunk: number, prelude = '') =>
    parsePoll(execFileSync('bash', ['-c', `${prelude}\n${pollCommand(record, offset, chunk)}`], { env: hostEnv(), cwd: home }).toString());

  it('sets the documented environment and carries hostile env values as data', () => {
    const hostile = `$(touch ${home}/canary) \`id\` ; 'quoted' "double"\nnewline`;
    const record = job({
      inputs: { train: 's3://b/data/train.jsonl', eval: 's3://b/data/eval/' },
      env: { HOSTILE: hostile },
      command:
        'printf "%s\\n" "$JOB_ID" "$INPUT_TRAIN" "$INPUT_EVAL" "$OUTPUT_DIR" "$CONFIG_PATH"; printf "%s" "$HOSTILE" > hostile.txt; exit 7',
    });
    const { log, exitCode } = runOnHost(record);
    const dir = dirOf(record);
    expect(exitCode).toBe(7);
    expect(log.split('\n')).toEqual([
      record.id,
      `${dir}/inputs/train/train.jsonl`,
      `${dir}/inputs/eval`,
      `${dir}/output`,
      `${dir}/config.yaml`,
      '',
    ]);
    expect(readFileSync(join(dir, 'hostile.txt'), 'utf8')).toBe(hostile);
    expect(() => readFileSync(join(home, 'canary'))).toThrow();
  });

  it('starts once, polls state, size and the log from an offset in one command, and sees the exit code', async () => {
    const record = job({ command: 'echo one; echo two; exit 4' });
    mkdirSync(join(dirOf(record), '.inno'), { recursive: true });
    const { command, stdin } = startCommandWithScript(record);
    const start = () => execFileSync('bash', ['-c', command], { env: hostEnv(), cwd: home, input: stdin }).toString();
    expect(start()).toBe('started\n');
    let result = poll(record, 4, 1000);
    for (let i = 0; result.train.state === 'running' && i < 400; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      result = poll(record, 4, 1000);
    }
    expect(result).toEqual({ train: { state: 'exited', exitCode: 4 }, logSize: 8, chunk: 'two\n' });
    // A start after it ended (a worker that died before recording the start) runs nothing again.
    start();
    expect(poll(record, 0, 1000)).toEqual({ train: { state: 'exited', exitCode: 4 }, logSize: 8, chunk: 'one\ntwo\n' });
  });

  it('reports a command that ended between the liveness check and the exit code check as exited, not gone', () => {
    const record = job();
    mkdirSync(join(dirOf(record), '.inno'), { recursive: true });
    // `flock` stands in for the runner finishing just then: it writes the status and lets the lock go.
    const finishing = `flock() { echo '{"exitCode":0,"result":null}' > .inno/train.status; command flock "$@"; }`;
    expect(poll(record, 0, 10, finishing).train).toEqual({ state: 'exited', exitCode: 0 });
    // Without a status, a command that is not running is gone.
    rmSync(join(dirOf(record), '.inno', 'train.status'));
    expect(poll(record, 0, 10).train).toEqual({ state: 'gone' });
  });

  it('reports a job directory that does not exist', () => {
    expect(poll(job(), 0, 10).train).toEqual({ state: 'nodir' });
  });

  it('stops the command with TERM, detached', async () => {
    const record = job({ command: 'sleep 30' });
    mkdirSync(join(dirOf(record), '.inno'), { recursive: true });
    const { command, stdin } = startCommandWithScript(record);
    execFileSync('bash', ['-c', command], { env: hostEnv(), cwd: home, input: stdin });
    expect(poll(record, 0, 10).train).toEqual({ state: 'running' });
    expect(execFileSync('bash', ['-c', killCommand(record, 5)], { env: hostEnv(), cwd: home }).toString()).toBe('stopping\n');
    let state = poll(record, 0, 10).train;
    for (let i = 0; state.state === 'running' && i < 400; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      state = poll(record, 0, 10).train;
    }
    expect(state).toEqual({ state: 'gone' });
  });
});

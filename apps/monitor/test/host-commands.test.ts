import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobRecord } from '@inno-train/schemas';
import { latestProgress } from '../src/metrics';
import { parsePoll, pollCommand, renderRunScript } from '../src/host-commands';

function job(overrides: Partial<JobRecord['spec']> = {}): JobRecord {
  return {
    id: 'j00test0000000000000001', name: null, status: 'training', createdAt: '', updatedAt: '', startedAt: null, finishedAt: null,
    spec: { instance: { type: 'gpu_1x_a10' }, inputs: {}, script: { inline: '', filename: 'train.py' }, command: 'true', outputUri: 's3://b/o/', ...overrides },
    instance: null, retiredInstances: [], hostRestarts: 0, progress: null, outputs: [], error: null, pendingError: null, cancelRequested: false, createdBy: null,
    training: { startedAt: null, exitCode: null }, metadata: {},
  };
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

describe('the run wrapper on a host', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'inno-home-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  function runOnHost(record: JobRecord): { log: string; exitCode: string } {
    const dir = join(home, 'inno-train', record.id);
    mkdirSync(join(dir, '.inno'), { recursive: true });
    mkdirSync(join(dir, 'inputs', 'train'), { recursive: true });
    writeFileSync(join(dir, '.inno', 'run.sh'), renderRunScript(record));
    spawnSync('bash', [join(dir, '.inno', 'run.sh')], { env: { HOME: home, PATH: process.env.PATH }, encoding: 'utf8' });
    return { log: readFileSync(join(dir, 'train.log'), 'utf8'), exitCode: readFileSync(join(dir, '.inno', 'exit_code'), 'utf8').trim() };
  }

  it('sets the documented environment and carries hostile env values as data', () => {
    const hostile = `$(touch ${home}/canary) \`id\` ; 'quoted' "double"\nnewline`;
    const record = job({
      inputs: { train: 's3://b/data/train.jsonl', eval: 's3://b/data/eval/' },
      env: { HOSTILE: hostile },
      command: 'printf "%s\\n" "$JOB_ID" "$INPUT_TRAIN" "$INPUT_EVAL" "$OUTPUT_DIR" "$CONFIG_PATH"; printf "%s" "$HOSTILE" > hostile.txt; exit 7',
    });
    const { log, exitCode } = runOnHost(record);
    const dir = join(home, 'inno-train', record.id);
    expect(exitCode).toBe('7');
    expect(log.split('\n')).toEqual([record.id, `${dir}/inputs/train/train.jsonl`, `${dir}/inputs/eval`, `${dir}/output`, `${dir}/config.yaml`, '']);
    expect(readFileSync(join(dir, 'hostile.txt'), 'utf8')).toBe(hostile);
    expect(() => readFileSync(join(home, 'canary'))).toThrow();
  });

  it('polls state, size and the log from an offset in one command', () => {
    const record = job({ command: 'echo one; echo two' });
    runOnHost(record);
    const out = execFileSync('bash', ['-c', pollCommand(record, 4, 1000)], { env: { HOME: home, PATH: process.env.PATH }, cwd: home }).toString();
    expect(parsePoll(out)).toEqual({ train: { state: 'exited', exitCode: 0 }, logSize: 8, chunk: 'two\n' });
  });

  it('reports a command that ended between the liveness check and the exit code check as exited, not gone', () => {
    const record = job();
    const dir = join(home, 'inno-train', record.id, '.inno');
    mkdirSync(join(dir, 'train.started'), { recursive: true });
    writeFileSync(join(dir, 'train.pid'), '999999');
    // `kill` stands in for the wrapper finishing just then: it writes the exit code and is gone.
    const finishing = 'kill() { echo 0 > .inno/exit_code; return 1; }';
    const out = execFileSync('bash', ['-c', `${finishing}\n${pollCommand(record, 0, 10)}`], { env: { HOME: home, PATH: process.env.PATH }, cwd: home }).toString();
    expect(parsePoll(out).train).toEqual({ state: 'exited', exitCode: 0 });
  });

  it('reports a job directory that does not exist', () => {
    const out = execFileSync('bash', ['-c', pollCommand(job(), 0, 10)], { env: { HOME: home, PATH: process.env.PATH }, cwd: home }).toString();
    expect(parsePoll(out).train).toEqual({ state: 'nodir' });
  });
});

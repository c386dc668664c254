import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  jobDir,
  LOG_MARKER,
  parseTrainingPoll,
  pollTrainingCommand,
  renderTrainScript,
  startTaskCommand,
  taskFiles,
  type TrainingJob,
} from '../src';

const ID = 'j00test0000000000000001';
const job = (overrides: Partial<TrainingJob> = {}): TrainingJob => ({ id: ID, command: 'true', inputs: {}, ...overrides });

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'inno-train-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const dir = () => join(home, jobDir(ID));
const env = () => ({ HOME: home, PATH: process.env.PATH });

/** Runs the training task's script directly, as the runner would, and returns its exit code and train.log. */
function runWrapper(record: TrainingJob): { log: string; exitCode: number | null } {
  mkdirSync(join(dir(), '.inno'), { recursive: true });
  mkdirSync(join(dir(), 'inputs', 'train'), { recursive: true });
  writeFileSync(join(dir(), taskFiles('train').script), renderTrainScript(record));
  const run = spawnSync('bash', [join(dir(), taskFiles('train').script)], { env: env(), encoding: 'utf8' });
  return { log: readFileSync(join(dir(), 'train.log'), 'utf8'), exitCode: run.status };
}

function poll(offset: number, chunk: number, prelude = '') {
  return parseTrainingPoll(
    execFileSync('bash', ['-c', `${prelude}\n${pollTrainingCommand(ID, offset, chunk)}`], { env: env(), cwd: home }).toString(),
  );
}

describe('the training wrapper on a host', () => {
  it('sets the documented environment and carries hostile env values as data', () => {
    const hostile = `$(touch ${home}/canary) \`id\` ; 'quoted' "double"\nnewline`;
    const record = job({
      inputs: { train: 's3://b/data/train.jsonl', eval: 's3://b/data/eval/' },
      env: { HOSTILE: hostile },
      command:
        'printf "%s\\n" "$JOB_ID" "$INPUT_TRAIN" "$INPUT_EVAL" "$OUTPUT_DIR" "$CONFIG_PATH" "$PYTHONUNBUFFERED"; printf "%s" "$HOSTILE" > hostile.txt; exit 7',
    });
    const { log, exitCode } = runWrapper(record);
    expect(exitCode).toBe(7);
    expect(log.split('\n')).toEqual([
      ID,
      `${dir()}/inputs/train/train.jsonl`,
      `${dir()}/inputs/eval`,
      `${dir()}/output`,
      `${dir()}/config.yaml`,
      '1',
      '',
    ]);
    expect(readFileSync(join(dir(), 'hostile.txt'), 'utf8')).toBe(hostile);
    expect(() => readFileSync(join(home, 'canary'))).toThrow();
  });

  it('creates CHECKPOINT_DIR before the command runs and exports it', () => {
    const { log, exitCode } = runWrapper(job({ command: 'printf "%s\\n" "$CHECKPOINT_DIR"; test -d "$CHECKPOINT_DIR"' }));
    expect(exitCode).toBe(0);
    expect(log).toBe(`${dir()}/checkpoints\n`);
  });

  it('exports RESUME_FROM as the restored checkpoint under CHECKPOINT_DIR, and only when one was restored', () => {
    const command = 'printf "[%s]\\n" "${RESUME_FROM-unset}"';
    expect(runWrapper(job({ resumeFrom: "step 7 $(touch canary) 'q'", command })).log).toBe(
      `[${dir()}/checkpoints/step 7 $(touch canary) 'q']\n`,
    );
    expect(() => readFileSync(join(dir(), 'canary'))).toThrow();
    rmSync(join(dir(), 'train.log'));
    expect(runWrapper(job({ command })).log).toBe('[unset]\n');
    expect(() => renderTrainScript(job({ resumeFrom: '../elsewhere' }))).toThrow(/segment/);
  });

  it('lets the job turn PYTHONUNBUFFERED off, and refuses a NUL in its env', () => {
    expect(runWrapper(job({ env: { PYTHONUNBUFFERED: '' }, command: 'echo "[$PYTHONUNBUFFERED]"' })).log).toBe('[]\n');
    expect(() => renderTrainScript(job({ env: { BAD: 'a\0b' } }))).toThrow(/NUL/);
  });

  it("runs a command that does not parse into a failure with bash's message in train.log, not a broken wrapper", () => {
    const { log, exitCode } = runWrapper(job({ command: 'echo before; if then fi )' }));
    expect(exitCode).toBe(2);
    expect(log).toMatch(/syntax error/);
  });

  it("holds the job's command only as quoted data", () => {
    const command = "echo 'it''s' $HOME; exit 0";
    const script = renderTrainScript(job({ command }));
    expect(script).toContain(`INNO_COMMAND='echo '\\''it'\\'''\\''s'\\'' $HOME; exit 0'`);
  });
});

describe('polling training', () => {
  it('reads the state, the log size and the log from an offset in one command', async () => {
    mkdirSync(join(dir(), '.inno'), { recursive: true });
    writeFileSync(join(dir(), taskFiles('train').script), renderTrainScript(job({ command: 'echo one; echo two' })));
    execFileSync('bash', ['-c', startTaskCommand(ID, 'train')], { env: env(), cwd: home });
    const deadline = Date.now() + 10_000;
    let result = poll(4, 1000);
    while (result.task.state === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      result = poll(4, 1000);
    }
    expect(result).toEqual({ task: { state: 'done', status: { exitCode: 0, result: null } }, logSize: 8, chunk: 'two\n' });
    expect(poll(0, 3).chunk).toBe('one');
  });

  it('reports a command that ended between the lock check and the status check as ended, not gone', () => {
    mkdirSync(join(dir(), '.inno'), { recursive: true });
    writeFileSync(join(dir(), 'train.log'), 'done\n');
    // `flock` stands in for the runner finishing just then: it writes the status and lets the lock go.
    const finishing = `flock() { echo '{"exitCode":0,"result":null}' > ${taskFiles('train').status}; command flock "$@"; }`;
    expect(poll(0, 10, finishing)).toEqual({ task: { state: 'done', status: { exitCode: 0, result: null } }, logSize: 5, chunk: 'done\n' });
  });

  it('reports a job directory that does not exist', () => {
    expect(poll(0, 10)).toEqual({ task: { state: 'no_job_dir' }, logSize: 0, chunk: '' });
  });

  it("keeps log bytes that look like the answer's own lines as log", () => {
    const stdout = `state=running\nsize=40\n${LOG_MARKER}\nstate=done {"exitCode":1}\n${LOG_MARKER}\nsize=1\n`;
    expect(parseTrainingPoll(stdout)).toEqual({
      task: { state: 'running' },
      logSize: 40,
      chunk: `state=done {"exitCode":1}\n${LOG_MARKER}\nsize=1\n`,
    });
    expect(() => parseTrainingPoll('state=running\n')).toThrow(/no log size/);
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  checkTaskCommand,
  jobDir,
  killTaskCommand,
  parseTaskCheck,
  resetTaskCommand,
  startTaskCommand,
  taskFiles,
  type TaskName,
} from '../src';

const JOB = 'j00test0000000000000001';
const resultSchema = z.object({ ok: z.boolean() });

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'inno-task-'));
});
afterEach(() => {
  // Whatever a test left running in its job directory goes with it.
  spawnSync('bash', ['-c', `${killTaskCommand(JOB, 'stage-in', { graceSeconds: 0, wait: true })}`], {
    cwd: home,
    env: { ...process.env, HOME: home },
  });
  rmSync(home, { recursive: true, force: true });
});

/** Runs a command as sshd would: `bash -c` from the home, `prelude` first (to stand in for what happens meanwhile). */
function onHost(command: string, prelude = ''): string {
  return execFileSync('bash', ['-c', `${prelude}\n${command}`], { cwd: home, env: { ...process.env, HOME: home }, encoding: 'utf8' });
}

const dir = () => join(home, jobDir(JOB));
const file = (relPath: string) => join(dir(), relPath);

/** A task whose script is `body`, in a job directory made as stage-in's prepare makes it. */
function withTask(task: TaskName, body: string): void {
  onHost(resetTaskCommand(JOB, task, { createLayout: true }));
  writeFileSync(file(taskFiles(task).script), `#!/usr/bin/env bash\n${body}\n`);
}

const check = (task: TaskName = 'stage-in', prelude = '') =>
  parseTaskCheck(task, onHost(checkTaskCommand(JOB, task), prelude), resultSchema);

async function until<T>(probe: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** No such process, or one killed and not reaped yet (a zombie). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

const ended = (task: TaskName = 'stage-in') =>
  until(() => {
    const state = check(task);
    return state.state === 'done' ? state : undefined;
  }, `${task} to end`);

describe('starting a task', () => {
  it('runs its script detached and records the exit code and the result it left', async () => {
    withTask('stage-in', `printf '{"ok":true}\\n' > ${taskFiles('stage-in').result}; echo to-the-out-file; exit 3`);
    expect(onHost(startTaskCommand(JOB, 'stage-in'))).toBe('started\n');
    expect(await ended()).toEqual({ state: 'done', status: { exitCode: 3, result: { ok: true } } });
    expect(readFileSync(file(taskFiles('stage-in').out), 'utf8')).toBe('to-the-out-file\n');
  });

  it('records a null result for a task that left none', async () => {
    withTask('stage-out', 'true');
    onHost(startTaskCommand(JOB, 'stage-out'));
    expect(await ended('stage-out')).toEqual({ state: 'done', status: { exitCode: 0, result: null } });
  });

  it('is seen running as soon as the start has answered, and a second start meanwhile is a no-op', async () => {
    withTask('stage-in', 'echo run >> runs.txt; sleep 1');
    onHost(startTaskCommand(JOB, 'stage-in'));
    expect(check()).toEqual({ state: 'running' });
    onHost(startTaskCommand(JOB, 'stage-in'));
    await ended();
    expect(readFileSync(join(dir(), 'runs.txt'), 'utf8')).toBe('run\n');
  });

  it('does not run again after it ended, until reset', async () => {
    withTask('stage-in', 'echo run >> runs.txt');
    onHost(startTaskCommand(JOB, 'stage-in'));
    await ended();
    onHost(startTaskCommand(JOB, 'stage-in'));
    expect(check()).toMatchObject({ state: 'done' });
    expect(readFileSync(join(dir(), 'runs.txt'), 'utf8')).toBe('run\n');

    onHost(resetTaskCommand(JOB, 'stage-in'));
    expect(check()).toEqual({ state: 'not_running' });
    onHost(startTaskCommand(JOB, 'stage-in'));
    await ended();
    expect(readFileSync(join(dir(), 'runs.txt'), 'utf8')).toBe('run\nrun\n');
  });

  it('does not let a process the task leaves behind hold the lock', async () => {
    withTask('stage-in', '(sleep 5 &) ; exit 0');
    onHost(startTaskCommand(JOB, 'stage-in'));
    const started = Date.now();
    await ended();
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('does not take a result an earlier run left for its own', async () => {
    withTask('stage-in', 'exit 1');
    writeFileSync(file(taskFiles('stage-in').result), '{"ok":true}\n');
    onHost(startTaskCommand(JOB, 'stage-in'));
    expect(await ended()).toEqual({ state: 'done', status: { exitCode: 1, result: null } });
  });
});

describe('checking a task', () => {
  it('says not_running for a task never started and no_job_dir for a job directory that is not there', () => {
    onHost(resetTaskCommand(JOB, 'stage-in', { createLayout: true }));
    expect(check()).toEqual({ state: 'not_running' });
    rmSync(dir(), { recursive: true });
    expect(check()).toEqual({ state: 'no_job_dir' });
  });

  it('sees the status of a task that ended between looking at the lock and at the status file', () => {
    onHost(resetTaskCommand(JOB, 'stage-in', { createLayout: true }));
    // `flock` stands in for the runner finishing just then: it writes the status, releases the lock
    // (the check runs it from the job directory).
    const finishing = `flock() { printf '{"exitCode":0,"result":{"ok":true}}\\n' > ${taskFiles('stage-in').status}; command flock "$@"; }`;
    expect(check('stage-in', finishing)).toEqual({ state: 'done', status: { exitCode: 0, result: { ok: true } } });
  });

  it('says running while another process holds the lock', () => {
    onHost(resetTaskCommand(JOB, 'stage-in', { createLayout: true }));
    expect(check('stage-in', 'flock() { return 75; }')).toEqual({ state: 'running' });
  });

  it('refuses a status that is not what the runner writes, instead of trusting it', () => {
    onHost(resetTaskCommand(JOB, 'stage-in', { createLayout: true }));
    const status = file(taskFiles('stage-in').status);
    writeFileSync(status, '{"exitCode":0,"result":{"ok":"yes"}}\n');
    expect(() => check()).toThrow(/malformed/);
    writeFileSync(status, '{"exitCode":"0","result":null}\n');
    expect(() => check()).toThrow(/malformed/);
    writeFileSync(status, '{"exitCode":0,"result":tr\n');
    expect(() => check()).toThrow(/not JSON/);
    expect(() => parseTaskCheck('stage-in', 'RUNNING\n', resultSchema)).toThrow(/no state/);
  });

  it('skips whatever a login script printed before the answer', () => {
    expect(parseTaskCheck('train', 'welcome to the host\nstate=running\n', resultSchema)).toEqual({ state: 'running' });
  });
});

describe('killing a task', () => {
  it('stops the whole process group: TERM, then KILL after the grace for what ignores TERM', async () => {
    withTask('stage-in', `trap '' TERM; sleep 60 & echo $! > sleeper.pid; wait`);
    onHost(startTaskCommand(JOB, 'stage-in'));
    const sleeper = Number(
      await until(
        () => (existsSync(join(dir(), 'sleeper.pid')) ? readFileSync(join(dir(), 'sleeper.pid'), 'utf8') : undefined),
        'the task to start',
      ),
    );
    const started = Date.now();
    expect(onHost(killTaskCommand(JOB, 'stage-in', { graceSeconds: 1, wait: true }))).toBe('stopped\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await until(() => (gone(sleeper) ? true : undefined), 'the KILL to be done');
    // The runner died with the group: no status, the lock free.
    expect(check()).toEqual({ state: 'not_running' });
  });

  it('answers at once when detached, and the KILL still comes after the grace', async () => {
    withTask('stage-in', `trap '' TERM; sleep 60 & echo $! > sleeper.pid; wait`);
    onHost(startTaskCommand(JOB, 'stage-in'));
    const sleeper = Number(
      await until(
        () => (existsSync(join(dir(), 'sleeper.pid')) ? readFileSync(join(dir(), 'sleeper.pid'), 'utf8') : undefined),
        'the task to start',
      ),
    );
    const started = Date.now();
    expect(onHost(killTaskCommand(JOB, 'stage-in', { graceSeconds: 1, wait: false }))).toBe('stopping\n');
    expect(Date.now() - started).toBeLessThan(900);
    await until(() => (gone(sleeper) ? true : undefined), 'the KILL');
  });

  it('signals nothing when the task is not running, whatever its pid file says', async () => {
    withTask('stage-in', 'true');
    onHost(startTaskCommand(JOB, 'stage-in'));
    await ended();
    const bystander = spawnSync('bash', ['-c', 'setsid sleep 30 > /dev/null 2>&1 < /dev/null & echo $!'], {
      encoding: 'utf8',
    }).stdout.trim();
    try {
      writeFileSync(file(taskFiles('stage-in').pid), `${bystander}\n`);
      expect(onHost(killTaskCommand(JOB, 'stage-in', { graceSeconds: 0, wait: true }))).toBe('nothing to stop\n');
      expect(spawnSync('kill', ['-0', bystander]).status).toBe(0);
      // Nor a pid that would name every process (`kill -- -1`).
      writeFileSync(file(taskFiles('stage-in').pid), '1\n');
      expect(onHost(killTaskCommand(JOB, 'stage-in', { graceSeconds: 0, wait: true }), 'flock() { return 75; }')).toBe('nothing to stop\n');
    } finally {
      spawnSync('kill', [bystander]);
    }
    rmSync(dir(), { recursive: true });
    expect(onHost(killTaskCommand(JOB, 'stage-in', { graceSeconds: 0, wait: true }))).toBe('nothing to stop\n');
  });
});

describe('the layout of a task', () => {
  it('names the files the scripts use', async () => {
    withTask('stage-in', 'true');
    onHost(startTaskCommand(JOB, 'stage-in'));
    await ended();
    const files = taskFiles('stage-in');
    for (const relPath of [files.script, files.lock, files.pid, files.status, files.out]) expect(existsSync(file(relPath))).toBe(true);
    expect(existsSync(join(dir(), 'inputs'))).toBe(true);
    expect(existsSync(join(dir(), 'output'))).toBe(true);
  });

  it('refuses a job id that is not one path segment', () => {
    for (const id of ['../x', 'a/b', '', '.', "j'1"]) expect(() => jobDir(id)).toThrow(/Not a job id/);
  });
});

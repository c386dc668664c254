/**
 * The wait on the host (scripts/wait-task.sh) run with the local bash in a temporary home, as sshd
 * would run it, against real tasks started by the protocol's own start-task.sh: it answers
 * `state=running` once its wait has passed, `state=done <status>` as soon as the task ends, and the
 * progress file's line as `progress=<line>` each time it changed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  jobDir,
  killTaskCommand,
  parseProgressLines,
  parseTaskCheck,
  resetTaskCommand,
  startTaskCommand,
  taskFiles,
  waitTaskCommand,
} from '../src';

const JOB = 'j00test0000000000000001';
const TASK = 'stage-in';
const resultSchema = z.object({ ok: z.boolean() });

let home: string;
const waits: ChildProcess[] = [];
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'inno-wait-'));
});
afterEach(() => {
  for (const child of waits.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  bash(killTaskCommand(JOB, TASK, { graceSeconds: 0, wait: true }));
  rmSync(home, { recursive: true, force: true });
});

const dir = () => join(home, jobDir(JOB));
const env = () => ({ HOME: home, PATH: process.env.PATH });

function bash(command: string): string {
  return spawnSync('bash', ['-c', command], { cwd: home, env: env(), encoding: 'utf8' }).stdout;
}

/** A task that runs until the test creates `stop` in the job directory, then leaves `{"ok":true}`. */
function startTask(): void {
  bash(resetTaskCommand(JOB, TASK, { createLayout: true }));
  writeFileSync(
    join(dir(), taskFiles(TASK).script),
    [
      '#!/usr/bin/env bash',
      'while [ ! -e stop ]; do sleep 0.01; done',
      `printf '{"ok":true}\\n' > ${taskFiles(TASK).result}`,
      'exit 4',
    ].join('\n'),
  );
  expect(bash(startTaskCommand(JOB, TASK))).toBe('started\n');
}

/** Rewrites the progress file whole (a rename, as the engine does), so a read never sees half a line. */
function writeProgress(line: string): void {
  const path = join(dir(), taskFiles(TASK).progress);
  writeFileSync(`${path}.tmp`, `${line}\n`);
  renameSync(`${path}.tmp`, path);
}

/** Starts the wait; its stdout is collected as it comes, `exited` settles with the time it ended. */
function startWait(waitMs: number, progressFile: string | undefined = taskFiles(TASK).progress) {
  const startedAt = Date.now();
  const child = spawn('bash', ['-c', waitTaskCommand(JOB, TASK, { waitMs, progressFile })], { cwd: home, env: env() });
  waits.push(child);
  const seen = { stdout: '' };
  child.stdout.on('data', (chunk: Buffer) => (seen.stdout += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('close', (code) => resolve({ code, at: Date.now() })),
  );
  let done = false;
  void exited.then(() => (done = true));
  return { seen, exited, startedAt, isDone: () => done };
}

/** Waits for `check` to hold, looking every 10 ms, failing with `what` after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The wait's end, or a failure once `ms` have passed. */
async function endOf(wait: ReturnType<typeof startWait>, ms: number): Promise<{ code: number | null; at: number }> {
  await until(wait.isDone, 'the wait to answer', ms);
  return wait.exited;
}

describe('waiting on the host for a task', () => {
  it('answers running for a task that still runs, only once its wait has passed', async () => {
    startTask();
    const waitMs = 1000;
    const wait = startWait(waitMs);
    // Not before: a look at half the wait finds it still waiting.
    await until(() => Date.now() - wait.startedAt >= waitMs / 2, 'half the wait');
    expect(wait.isDone()).toBe(false);
    const { code, at } = await endOf(wait, waitMs + 5000);
    expect(code).toBe(0);
    // Each round is a flock that timed out after 200 ms: the whole wait is at least waitMs.
    expect(at - wait.startedAt).toBeGreaterThanOrEqual(waitMs - 50);
    expect(at - wait.startedAt).toBeLessThan(waitMs + 3000);
    expect(wait.seen.stdout).toBe('state=running\n');
    expect(parseTaskCheck(TASK, wait.seen.stdout, resultSchema)).toEqual({ state: 'running' });
  });

  it('answers done with the status as soon as the task ends, well before its wait', async () => {
    startTask();
    writeProgress('{"step":1}');
    const wait = startWait(20_000);
    // The wait is going: it has sent the progress it found.
    await until(() => wait.seen.stdout.includes('progress='), 'the wait to send progress');
    expect(wait.isDone()).toBe(false);
    const stoppedAt = Date.now();
    writeFileSync(join(dir(), 'stop'), '');
    const { code, at } = await endOf(wait, 10_000);
    expect(code).toBe(0);
    expect(at - stoppedAt).toBeLessThan(2000);
    expect(at - wait.startedAt).toBeLessThan(20_000);
    expect(parseTaskCheck(TASK, wait.seen.stdout, resultSchema)).toEqual({
      state: 'done',
      status: { exitCode: 4, result: { ok: true } },
    });
  });

  it('sends a progress line that never changes once, however many rounds it waits', async () => {
    startTask();
    writeProgress('{"bytesDone":1}');
    // Five rounds of 200 ms, the same line each time.
    const wait = startWait(1000);
    await endOf(wait, 6000);
    expect(wait.seen.stdout).toBe('progress={"bytesDone":1}\nstate=running\n');
    expect(parseProgressLines(wait.seen.stdout)).toEqual(['{"bytesDone":1}']);
  });

  it('sends each progress line as it changes, in order, and not again when rewritten the same', async () => {
    startTask();
    writeProgress('a');
    const wait = startWait(20_000);
    await until(() => parseProgressLines(wait.seen.stdout).length === 1, 'the first progress line');
    writeProgress('b');
    await until(() => parseProgressLines(wait.seen.stdout).length === 2, 'the second progress line');
    // Rewritten with the same line: nothing new, then a change after it does come.
    writeProgress('b');
    writeProgress('c with spaces & $x');
    await until(() => parseProgressLines(wait.seen.stdout).length === 3, 'the third progress line');
    writeFileSync(join(dir(), 'stop'), '');
    await endOf(wait, 10_000);
    expect(parseProgressLines(wait.seen.stdout)).toEqual(['a', 'b', 'c with spaces & $x']);
    const lines = wait.seen.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual(['progress=a', 'progress=b', 'progress=c with spaces & $x']);
    expect(lines[3]).toMatch(/^state=done /);
    expect(parseTaskCheck(TASK, wait.seen.stdout, resultSchema)).toMatchObject({ state: 'done' });
  });

  it('sends no progress while the progress file is absent, nor when no progress file is named', async () => {
    startTask();
    const noFile = startWait(400);
    await endOf(noFile, 5000);
    expect(noFile.seen.stdout).toBe('state=running\n');
    writeProgress('not asked for');
    const unnamed = spawnSync('bash', ['-c', waitTaskCommand(JOB, TASK, { waitMs: 400 })], { cwd: home, env: env(), encoding: 'utf8' });
    expect(unnamed.stdout).toBe('state=running\n');
  });

  it('answers no_job_dir at once when the job directory is not there', async () => {
    const wait = startWait(20_000);
    const { code, at } = await endOf(wait, 5000);
    expect(code).toBe(0);
    expect(at - wait.startedAt).toBeLessThan(2000);
    expect(wait.seen.stdout).toBe('state=no_job_dir\n');
    expect(parseTaskCheck(TASK, wait.seen.stdout, resultSchema)).toEqual({ state: 'no_job_dir' });
  });

  it('answers not_running at once for a task never started', async () => {
    bash(resetTaskCommand(JOB, TASK, { createLayout: true }));
    const wait = startWait(20_000);
    const { code, at } = await endOf(wait, 5000);
    expect(code).toBe(0);
    expect(at - wait.startedAt).toBeLessThan(2000);
    expect(wait.seen.stdout).toBe('state=not_running\n');
    expect(parseTaskCheck(TASK, wait.seen.stdout, resultSchema)).toEqual({ state: 'not_running' });
  });

  it('refuses a wait that is not a whole number of milliseconds, and renders the one it is given', () => {
    expect(() => waitTaskCommand(JOB, TASK, { waitMs: -1 })).toThrow('waitMs');
    expect(() => waitTaskCommand(JOB, TASK, { waitMs: 1.5 })).toThrow('waitMs');
    expect(() => waitTaskCommand(JOB, TASK, { waitMs: Number.NaN })).toThrow('waitMs');
    expect(() => waitTaskCommand('../x', TASK, { waitMs: 0 })).toThrow('Not a job id');
    const command = waitTaskCommand(JOB, TASK, { waitMs: 12_345, progressFile: taskFiles(TASK).progress });
    expect(command).toContain('\nINNO_WAIT_MS=12345\n');
    expect(command).toContain(`\nINNO_TASK=${TASK}\n`);
  });
});

describe('parseProgressLines', () => {
  it('takes the payloads of complete progress= lines only, in order', () => {
    expect(parseProgressLines('login banner\nprogress=1\nprogress=\nprogress=2\nstate=running\n')).toEqual(['1', '', '2']);
    expect(parseProgressLines('progress=1\nprogress=half a li')).toEqual(['1']);
    expect(parseProgressLines('')).toEqual([]);
    expect(parseProgressLines(' progress=indented\n')).toEqual([]);
  });
});

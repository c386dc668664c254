/**
 * The live tail (scripts/tail-log.sh) run with the local bash in a temporary home, as sshd would
 * run it, against a real training task started by the protocol's own start-task.sh: bytes appended
 * to train.log come out on stdout while the task runs, each once, and `end` comes on stderr once the
 * task has stopped and the rest is out.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobDir, killTaskCommand, startTaskCommand, tailTrainingLogCommand, TAIL_END, taskFiles } from '../src';

const ID = 'j00test0000000000000001';

let home: string;
const tails: ChildProcess[] = [];
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'inno-tail-'));
});
afterEach(() => {
  for (const tail of tails.splice(0)) tail.kill('SIGKILL');
  bash(killTaskCommand(ID, 'train', { graceSeconds: 0, wait: true }));
  rmSync(home, { recursive: true, force: true });
});

const dir = () => join(home, jobDir(ID));
const env = () => ({ HOME: home, PATH: process.env.PATH });

function bash(command: string): string {
  return spawnSync('bash', ['-c', command], { cwd: home, env: env(), encoding: 'utf8' }).stdout;
}

/** Starts the tail; what it prints is collected as it comes, and `exited` settles with its exit code. */
function startTail(offset: number) {
  const child = spawn('bash', ['-c', tailTrainingLogCommand(ID, offset, { pollSeconds: 0.05 })], { cwd: home, env: env() });
  tails.push(child);
  const seen = { stdout: Buffer.alloc(0), stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (seen.stdout = Buffer.concat([seen.stdout, chunk])));
  child.stderr.on('data', (chunk: Buffer) => (seen.stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { seen, exited };
}

/** Waits for `check` to hold, looking every 10 ms, failing with `what` after 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A training task that appends to train.log step by step, each step waiting for a file the test creates. */
function startTraining(): void {
  mkdirSync(join(dir(), '.inno'), { recursive: true });
  writeFileSync(
    join(dir(), taskFiles('train').script),
    [
      'wait_for() { while [ ! -e "$1" ]; do sleep 0.01; done; }',
      "printf 'one\\n' >> train.log",
      'wait_for go',
      "printf 'två\\nno newline yet' >> train.log",
      'wait_for stop',
      "printf ' - done\\n' >> train.log",
      'exit 3',
    ].join('\n'),
  );
  expect(bash(startTaskCommand(ID, 'train'))).toBe('started\n');
}

describe('the live tail of train.log', () => {
  it('prints bytes as they are written, each once, and `end` on stderr after the task stopped', async () => {
    startTraining();
    const tail = startTail(0);
    await until(() => tail.seen.stdout.toString() === 'one\n', 'the first line');
    writeFileSync(join(dir(), 'go'), '');
    await until(() => tail.seen.stdout.toString() === 'one\ntvå\nno newline yet', 'the next bytes');
    expect(tail.seen.stderr).toBe('');
    writeFileSync(join(dir(), 'stop'), '');
    expect(await tail.exited).toBe(0);
    expect(tail.seen.stdout.toString()).toBe('one\ntvå\nno newline yet - done\n');
    expect(tail.seen.stdout.equals(readFileSync(join(dir(), 'train.log')))).toBe(true);
    expect(tail.seen.stderr).toBe(`${TAIL_END}\n`);
  });

  it('starts at the byte offset it is given (bytes, not characters)', async () => {
    startTraining();
    await until(() => bash(`cat ${jobDir(ID)}/train.log`) === 'one\n', 'the first line in the log');
    writeFileSync(join(dir(), 'go'), '');
    // 'one\ntvå' is 8 bytes ('å' is two): the tail begins after them, in the second line.
    const tail = startTail(8);
    await until(() => tail.seen.stdout.toString() === '\nno newline yet', 'the bytes from offset 8');
    writeFileSync(join(dir(), 'stop'), '');
    expect(await tail.exited).toBe(0);
    expect(tail.seen.stdout.toString()).toBe('\nno newline yet - done\n');
  });

  it('ends at once, with the rest of the log, when the task has already ended', async () => {
    mkdirSync(join(dir(), '.inno'), { recursive: true });
    writeFileSync(join(dir(), 'train.log'), 'abcdef');
    writeFileSync(join(dir(), taskFiles('train').status), '{"exitCode":0,"result":null}\n');
    const tail = startTail(2);
    expect(await tail.exited).toBe(0);
    expect({ stdout: tail.seen.stdout.toString(), stderr: tail.seen.stderr }).toEqual({ stdout: 'cdef', stderr: `${TAIL_END}\n` });
  });

  it('ends when the job directory is gone', async () => {
    const tail = startTail(0);
    expect(await tail.exited).toBe(0);
    expect({ stdout: tail.seen.stdout.toString(), stderr: tail.seen.stderr }).toEqual({ stdout: '', stderr: `${TAIL_END}\n` });
  });

  it('refuses an offset that is not a whole number of bytes, and renders the offset it is given', () => {
    expect(() => tailTrainingLogCommand(ID, -1)).toThrow('offset');
    expect(() => tailTrainingLogCommand(ID, 1.5)).toThrow('offset');
    expect(() => tailTrainingLogCommand('../x', 0)).toThrow('Not a job id');
    expect(tailTrainingLogCommand(ID, 12)).toContain('\nINNO_LOG_OFFSET=12\n');
  });
});

/**
 * The live tail (scripts/tail-log.sh) run with the local bash in a temporary home, as sshd would
 * run it, against a real training task started by the protocol's own start-task.sh: bytes appended
 * to train.log come out on stdout while the task runs, each once, and `end` comes on stderr once the
 * task has stopped and the rest is out.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTaskCommand, jobDir, killTaskCommand, startTaskCommand, tailTrainingLogCommand, TAIL_END, taskFiles } from '../src';

const ID = 'j00test0000000000000001';

let home: string;
const tails: ChildProcess[] = [];
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'inno-tail-'));
});
afterEach(() => {
  for (const tail of tails.splice(0)) if (tail.pid !== undefined && groupAlive(tail.pid)) process.kill(-tail.pid, 'SIGKILL');
  bash(killTaskCommand(ID, 'train', { graceSeconds: 0, wait: true }));
  rmSync(home, { recursive: true, force: true });
});

const dir = () => join(home, jobDir(ID));
const env = () => ({ HOME: home, PATH: process.env.PATH });

function bash(command: string): string {
  return spawnSync('bash', ['-c', command], { cwd: home, env: env(), encoding: 'utf8' }).stdout;
}

/** Starts the tail; what it prints is collected as it comes, and `exited` settles with its exit code. */
function startTail(offset: number, aliveSeconds?: number) {
  // A process group of its own, as sshd gives a session: the test can then see what is left of it.
  const child = spawn('bash', ['-c', tailTrainingLogCommand(ID, offset, { pollSeconds: 0.05, aliveSeconds })], {
    cwd: home,
    env: env(),
    detached: true,
  });
  tails.push(child);
  const seen = { stdout: Buffer.alloc(0), stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (seen.stdout = Buffer.concat([seen.stdout, chunk])));
  child.stderr.on('data', (chunk: Buffer) => (seen.stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, seen, exited };
}

/** Pids of the processes of the group led by `pid` (the tail's: a spawn per poll would show as new ones). */
function groupPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number)
    .sort((a, b) => a - b);
}

/** Whether any process of the group led by `pid` is left. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for `check` to hold, looking every 10 ms, failing with `what` after 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const STEPS = [
  "printf 'one\\n' >> train.log",
  'wait_for go',
  "printf 'två\\nno newline yet' >> train.log",
  'wait_for stop',
  "printf ' - done\\n' >> train.log",
  'exit 3',
];

/**
 * A training task that appends to train.log step by step (by default STEPS), each step waiting for
 * a file the test creates (`wait_for NAME`).
 */
function startTraining(steps: string[] = STEPS): void {
  mkdirSync(join(dir(), '.inno'), { recursive: true });
  writeFileSync(join(dir(), taskFiles('train').script), ['wait_for() { while [ ! -e "$1" ]; do sleep 0.01; done; }', ...steps].join('\n'));
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

  it('starts at an offset the log has not reached yet once the log gets there', async () => {
    startTraining();
    await until(() => bash(`cat ${jobDir(ID)}/train.log`) === 'one\n', 'the first line in the log');
    const tail = startTail(8);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(tail.seen.stdout.length).toBe(0);
    writeFileSync(join(dir(), 'go'), '');
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

  it('waits for the log to appear, then sends it from the start', async () => {
    startTraining(['wait_for go', "printf 'late\\n' >> train.log", 'wait_for stop']);
    const tail = startTail(0);
    writeFileSync(join(dir(), 'go'), '');
    await until(() => tail.seen.stdout.toString() === 'late\n', 'the first line of a log that appeared later');
    writeFileSync(join(dir(), 'stop'), '');
    expect(await tail.exited).toBe(0);
    expect({ stdout: tail.seen.stdout.toString(), stderr: tail.seen.stderr }).toEqual({ stdout: 'late\n', stderr: `${TAIL_END}\n` });
  });

  it('ends, with nothing sent, when the task ended without writing a log', async () => {
    startTraining(['exit 0']);
    const tail = startTail(0);
    expect(await tail.exited).toBe(0);
    expect({ stdout: tail.seen.stdout.toString(), stderr: tail.seen.stderr }).toEqual({ stdout: '', stderr: `${TAIL_END}\n` });
  });

  it('sends every byte of a burst written just before the task ends, each once', async () => {
    // 20,000 lines in a few writes, then the exit at once: the end must wait for all of them.
    startTraining(["printf 'start\\n' >> train.log", 'wait_for go', 'seq 1 20000 >> train.log', "printf 'last' >> train.log"]);
    const tail = startTail(0);
    await until(() => tail.seen.stdout.toString() === 'start\n', 'the first line');
    writeFileSync(join(dir(), 'go'), '');
    expect(await tail.exited).toBe(0);
    expect(tail.seen.stdout.equals(readFileSync(join(dir(), 'train.log')))).toBe(true);
    expect(tail.seen.stdout.toString().endsWith('\n20000\nlast')).toBe(true);
    expect(tail.seen.stderr).toBe(`${TAIL_END}\n`);
  });

  it('ends within a second when the runner is killed without writing a status', async () => {
    startTraining();
    const tail = startTail(0);
    await until(() => tail.seen.stdout.toString() === 'one\n', 'the first line');
    const killedAt = Date.now();
    bash(killTaskCommand(ID, 'train', { graceSeconds: 0, wait: true }));
    expect(await tail.exited).toBe(0);
    // The runner let go of the lock as it died: the waiting flock says so at once.
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect({ stdout: tail.seen.stdout.toString(), stderr: tail.seen.stderr }).toEqual({ stdout: 'one\n', stderr: `${TAIL_END}\n` });
    expect(existsSync(join(dir(), taskFiles('train').status))).toBe(false);
  });

  it('stops, and leaves no process behind, once its session is gone', async () => {
    startTraining();
    const tail = startTail(0, 1);
    await until(() => tail.seen.stdout.toString() === 'one\n', 'the first line');
    // The reading ends of its pipes close, as when sshd drops the session: the next `alive` fails.
    tail.child.stdout!.destroy();
    tail.child.stderr!.destroy();
    expect(await tail.exited).not.toBe(0);
    await until(() => !groupAlive(tail.child.pid!), 'every process of the tail to end');
    expect(bash(checkTaskCommand(ID, 'train'))).toBe('state=running\n');
  });

  it('spawns nothing while it waits: the same processes over many polls of a quiet log', async () => {
    startTraining();
    const tail = startTail(0);
    await until(() => tail.seen.stdout.toString() === 'one\n', 'the first line');
    const before = groupPids(tail.child.pid!);
    // 20 polls of 0.05 s.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(groupPids(tail.child.pid!)).toEqual(before);
    expect(before.length).toBeLessThanOrEqual(4);
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

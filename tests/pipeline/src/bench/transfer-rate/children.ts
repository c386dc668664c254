/**
 * The bench's child processes (the AWS CLI, or bash running our engine's script): each runs in its
 * own process group under bash, which reports the CPU time of everything it waited for, so that a
 * run's client CPU is counted whole and a run past its deadline is killed with all it started, also
 * when the bench itself exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DEADLINE_MS } from './config';

/** Children still running (own process groups), killed on a deadline or when the bench exits. */
export const children = new Set<ChildProcess>();

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

process.on('exit', () => {
  for (const child of children) killGroup(child);
});

export interface ChildRun {
  code: number | null;
  output: string;
  /** CPU seconds (user + system) of the command and everything it waited for. */
  cpuSeconds: number;
  timedOut: boolean;
}

/**
 * Runs a command in its own process group under bash, which reports the CPU time of its waited-for
 * children (`times`) into a file; killed (the whole group) at the deadline.
 */
export async function runTimed(command: string[], env: NodeJS.ProcessEnv, scratch: string, deadlineMs: number): Promise<ChildRun> {
  const timesFile = join(scratch, `times-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const wrapper = '"$@"; rc=$?; times >"$BENCH_TIMES_FILE"; exit $rc';
  const child = spawn('bash', ['-c', wrapper, 'bench', ...command], {
    env: { ...env, BENCH_TIMES_FILE: timesFile },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, deadlineMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  children.delete(child);
  const cpuSeconds = await readChildCpuSeconds(timesFile);
  return { code, output, cpuSeconds, timedOut };
}

/** The children's user + system seconds from the file bash's `times` wrote (0 if it never got there), then removes it. */
async function readChildCpuSeconds(timesFile: string): Promise<number> {
  let cpuSeconds = 0;
  if (existsSync(timesFile)) {
    // Second line of `times`: the children's user and system time, e.g. "0m1.234s 0m0.567s".
    const line = (await readFile(timesFile, 'utf8')).split('\n')[1] ?? '';
    for (const [, m, s] of line.matchAll(/(\d+)m([\d.]+)s/g)) cpuSeconds += Number(m) * 60 + Number(s);
    await rm(timesFile, { force: true });
  }
  return cpuSeconds;
}

/** Why a child's run does not count (killed at the deadline, or a non-zero exit with its last lines), if it does not. */
export function childError(run: ChildRun, what: string): string | undefined {
  if (run.timedOut) return `${what}: killed at the ${DEADLINE_MS / 1000} s deadline`;
  if (run.code !== 0) return `${what}: exit ${run.code}: ${run.output.trim().split('\n').slice(-3).join(' | ')}`;
  return undefined;
}

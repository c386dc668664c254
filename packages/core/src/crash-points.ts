import { writeSync } from 'node:fs';

/**
 * Named lines where a process can be made to die on purpose, to prove that a worker killed at
 * that exact line leaves nothing lost or doubled (the failpoints of etcd's gofail or TiKV's
 * fail-rs, reduced to the one action we need: SIGKILL). Off unless an app arms them at start
 * from its test-only configuration; an unarmed point costs one Set lookup.
 */
const armed = new Set<string>();

/** Arms the named points (replacing any armed before); an empty list disarms them all. */
export function armCrashPoints(names: readonly string[]): void {
  armed.clear();
  for (const name of names) armed.add(name);
}

export function armedCrashPoints(): string[] {
  return [...armed];
}

/**
 * Dies here, at once and without cleanup, if this point is armed. The line written to stderr
 * first (synchronously, so it is not lost with the process) tells a test which point fired.
 */
export function crashPoint(name: string): void {
  if (armed.size === 0 || !armed.has(name)) return;
  writeSync(2, `${JSON.stringify({ crashPoint: name, pid: process.pid })}\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** The local executor's stream: output as it comes, the exit code at the end, an abort kills the command's whole group. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@inno-train/test-kit';
import { LocalExecutor } from '../src';

const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', USER: 'tester', LANG: 'C.UTF-8' };

/** Running, as opposed to gone or a zombie waiting for a reaper. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('LocalExecutor.stream', () => {
  let home: string;
  let executor: LocalExecutor;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'inno-local-stream-'));
    executor = new LocalExecutor((host) => (host === 'h1' ? home : null), baseEnv);
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('hands output over while the command runs and answers its exit code', async () => {
    const seen = { stdout: '', stderr: '' };
    const done = executor.stream(
      { host: 'h1' },
      'echo one; while [ ! -e go ]; do sleep 0.02; done; echo two >&2; exit 4',
      { onStdout: (chunk) => (seen.stdout += chunk.toString()), onStderr: (chunk) => (seen.stderr += chunk.toString()) },
      { signal: new AbortController().signal },
    );
    await waitFor(() => seen.stdout === 'one\n' || undefined, { timeoutMs: 5000, description: 'the first line' });
    writeFileSync(join(home, 'go'), '');
    expect(await done).toEqual({ exitCode: 4 });
    expect(seen.stderr).toBe('two\n');
  });

  it('an abort kills the command and what it started, and rejects with the reason', async () => {
    let stdout = '';
    const controller = new AbortController();
    const done = executor.stream(
      { host: 'h1' },
      'sleep 300 & echo $! > child.pid; while true; do echo tick; sleep 0.05; done',
      { onStdout: (chunk) => (stdout += chunk.toString()) },
      { signal: controller.signal },
    );
    await waitFor(() => stdout.includes('tick') || undefined, { timeoutMs: 5000, description: 'the loop to run' });
    const child = Number(readFileSync(join(home, 'child.pid'), 'utf8'));
    controller.abort(new Error('stop now'));
    await expect(done).rejects.toThrow('stop now');
    await waitFor(() => !alive(child) || undefined, { timeoutMs: 5000, description: 'the background child to be killed' });
  });
});

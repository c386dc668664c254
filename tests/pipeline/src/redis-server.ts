import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisAnswers as answers } from '@inno-train/workflow';
import { freePort, waitFor } from '@inno-train/test-kit';

/** A Redis of the test's own (AOF on, noeviction, as production runs it) that can be restarted. */
export async function startOwnRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'inno-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    child = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--maxmemory-policy',
        'noeviction',
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => answers(url), { timeoutMs: 10_000, description: 'redis-server to answer' });
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    await exited;
  }

  await start();
  return {
    url,
    /** Stops Redis (it writes its AOF on the way down) and starts it again on the same data. */
    async restart(): Promise<void> {
      await stop();
      await start();
    },
    /** Stops Redis until `start` (to see how the service behaves while it is down). */
    stop,
    start,
    async close(): Promise<void> {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

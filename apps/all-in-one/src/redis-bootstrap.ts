import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redisAnswers as answers } from '@inno-train/workflow';
import { sleep, type Logger } from '@inno-train/core';

export interface RedisHandle {
  url: string;
  /** Set when we started redis-server ourselves. */
  child: ChildProcess | null;
  stop(): Promise<void>;
}

/**
 * Uses REDIS_URL if it answers; otherwise starts redis-server as a child process on that URL's
 * loopback port, with AOF on and `noeviction` (BullMQ needs both), data under the data directory.
 */
export async function ensureRedis(url: string, dataDir: string, logger: Logger): Promise<RedisHandle> {
  if (await answers(url)) return { url, child: null, stop: async () => undefined };
  const parsed = new URL(url);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  const installed = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!loopback || !installed) {
    throw new Error(
      `Redis does not answer at ${parsed.host}${installed ? '' : ' and redis-server is not installed'}. ` +
        'Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), ' +
        'or run one with `docker compose up -d redis`, or set REDIS_URL to a Redis that answers.',
    );
  }
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = parsed.port || '6379';
  const child = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      port,
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
      '--daemonize',
      'no',
      '--logfile',
      join(dir, 'redis.log'),
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await answers(`redis://127.0.0.1:${port}`))) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`redis-server did not start on port ${port}; see ${join(dir, 'redis.log')}`);
    await sleep(100);
  }
  logger.info({ port, dir }, 'started a local redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

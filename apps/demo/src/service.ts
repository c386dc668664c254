import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeHealth } from './api-client';
import { DEFAULT_API_URL, readRuntimeInfo, type RuntimeInfo } from './settings';

export interface ServiceHandle {
  apiUrl: string;
  runtime: RuntimeInfo | null;
  /** Set when the demo started the service itself (and so must stop it). */
  started: { pid: number; logPath: string } | null;
  stop(): Promise<void>;
}

export interface EnsureServiceOptions {
  dataDir: string;
  repoRoot: string;
  /** INNO_API_URL, if set. */
  apiUrl: string | null;
  /** The service entry point; defaults to the all-in-one build under the repository. */
  entry?: string;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  signal?: AbortSignal;
  log: (line: string) => void;
}

/**
 * Poll intervals for a service the demo starts itself, unless the environment sets them: the
 * defaults (training polled every 10 s) would show a short demo's bar jump from 0 to 100%.
 */
export const DEMO_SERVICE_POLL_ENV: Readonly<Record<string, string>> = {
  BOOT_POLL_MS: '2000',
  TRANSFER_POLL_MS: '1000',
  TRAIN_POLL_MS: '1000',
  TERMINATE_POLL_MS: '1000',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value, the deadline passes or `signal` aborts. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs: number; intervalMs?: number; description: string; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted) throw new Error(`Interrupted while waiting for ${options.description}`);
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline)
      throw new Error(`Timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.description}`);
    await sleep(options.intervalMs ?? 250);
  }
}

function tailOf(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Finds a running service or starts the all-in-one one. A service that answers is used as is;
 * one that answers but is not healthy yet is waited for, never started twice on the same port.
 */
export async function ensureService(options: EnsureServiceOptions): Promise<ServiceHandle> {
  const existing = readRuntimeInfo(options.dataDir);
  const candidate = options.apiUrl ?? existing?.info.apiUrl ?? DEFAULT_API_URL;
  const health = await probeHealth(candidate);
  if (health !== 'down') {
    if (health === 'unhealthy') options.log(`The service at ${candidate} answers but is not healthy yet; waiting for it...`);
    await waitUntil(async () => ((await probeHealth(candidate)) === 'ok' ? true : undefined), {
      timeoutMs: options.startTimeoutMs ?? 60_000,
      intervalMs: 500,
      description: `${candidate}/healthz`,
      signal: options.signal,
    });
    const runtime = readRuntimeInfo(options.dataDir)?.info ?? null;
    return { apiUrl: candidate, runtime, started: null, stop: async () => {} };
  }
  return startService(options, candidate);
}

async function startService(options: EnsureServiceOptions, candidate: string): Promise<ServiceHandle> {
  const entry = options.entry ?? join(options.repoRoot, 'apps', 'all-in-one', 'dist', 'main.js');
  if (!existsSync(entry)) throw new Error(`No service answers at ${candidate} and ${entry} is missing: run npm run build first`);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const logPath = join(options.dataDir, 'demo-service.log');
  options.log(`No service answers at ${candidate}: starting ${entry} (log: ${logPath})`);
  const spawnedAt = Date.now();
  const fd = openSync(logPath, 'a');
  // Its own process group: a Ctrl-C at the terminal reaches only the demo, which then cancels the
  // job and waits for the instance to go away before it stops the service in that order.
  const env = { ...DEMO_SERVICE_POLL_ENV, ...(options.env ?? process.env) };
  const child = spawn(process.execPath, [entry], { cwd: options.repoRoot, env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A second Ctrl-C exits the demo at once: the detached service must still be told to stop.
  const stopOnExit = () => void child.kill('SIGINT');
  process.once('exit', stopOnExit);
  void exited.then(() => process.off('exit', stopOnExit));
  const stop = () => stopChild(child, exited, options.stopTimeoutMs ?? 30_000);
  try {
    const runtime = await waitUntil(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `The service exited (${child.exitCode ?? child.signalCode}) while starting; last lines of ${logPath}:\n${tailOf(logPath, 20)}`,
          );
        }
        const found = readRuntimeInfo(options.dataDir);
        // Only the file our child wrote counts: an older one may name another port or S3 endpoint.
        const fresh = found && (found.info.pid !== undefined ? found.info.pid === child.pid : found.mtimeMs >= spawnedAt - 1000);
        return fresh ? found.info : undefined;
      },
      {
        timeoutMs: options.startTimeoutMs ?? 60_000,
        intervalMs: 250,
        description: `${join(options.dataDir, 'runtime.json')} from the service`,
        signal: options.signal,
      },
    );
    const apiUrl = runtime.apiUrl;
    await waitUntil(async () => ((await probeHealth(apiUrl)) === 'ok' ? true : undefined), {
      timeoutMs: options.startTimeoutMs ?? 60_000,
      intervalMs: 250,
      description: `${apiUrl}/healthz`,
      signal: options.signal,
    });
    options.log(`Service ready at ${apiUrl} (pid ${child.pid}, provider ${runtime.provider})`);
    return { apiUrl, runtime, started: { pid: child.pid ?? -1, logPath }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** SIGINT (the service's own clean shutdown), then SIGKILL to its whole group after the grace. */
async function stopChild(child: ChildProcess, exited: Promise<void>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut && child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone between the race and the kill.
    }
    await exited;
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort, waitFor } from '@inno-train/test-kit';

/**
 * The all-in-one service for the browser tests (console, Bull Board login): `node
 * apps/all-in-one/dist/main.js` on free ports with its own data dir and redis-server.
 */
export const REPO = join(__dirname, '..', '..', '..');
export const CHROMIUM = '/usr/bin/chromium';

export interface ConsoleTenant {
  name: string;
  key: string;
  role: 'client' | 'admin';
}

/** A started all-in-one process and what it printed. */
export interface ServiceProcess {
  child: ChildProcess;
  dataDir: string;
  output: () => string;
  exited: Promise<number | null>;
}

export interface RunningService extends ServiceProcess {
  origin: string;
}

/**
 * Starts the service in `dataDir` with `env` (over PATH, HOME, LANG and a REDIS_URL nothing answers,
 * so it starts its own redis-server inside dataDir), and resolves once its banner is out and `ready`
 * finds what the caller needs in its output.
 */
export async function spawnAllInOne<T>(
  dataDir: string,
  env: Record<string, string>,
  ready: (output: string) => T | undefined | null | false,
  description = 'the service to print its banner',
): Promise<{ service: ServiceProcess; found: T }> {
  const fullEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    INNO_DATA_DIR: dataDir,
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    ...env,
  };
  const child = spawn(process.execPath, [join(REPO, 'apps/all-in-one/dist/main.js')], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => void (output += chunk.toString());
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const found = await waitFor(() => (output.includes('Ctrl-C stops everything') ? ready(output) : undefined), {
    timeoutMs: 60_000,
    description,
  }).catch((error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\noutput so far:\n${output}`);
  });
  return { service: { child, dataDir, output: () => output, exited }, found: found as T };
}

/** The service with a keys file of named tenants (so the pictures show tenant names, never a key). */
export async function startService(tenants: ConsoleTenant[]): Promise<RunningService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inno-console-'));
  const keysFile = join(dataDir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ keys: tenants }));
  const apiPort = await freePort();
  const { service } = await spawnAllInOne(
    dataDir,
    {
      TZ: 'UTC',
      API_PORT: String(apiPort),
      API_KEYS_FILE: keysFile,
      TRAIN_POLL_MS: '300',
      TRANSFER_POLL_MS: '300',
      BOOT_POLL_MS: '300',
      TERMINATE_POLL_MS: '300',
    },
    () => true,
  );
  return { ...service, origin: `http://127.0.0.1:${apiPort}` };
}

/** Stops the service with Ctrl-C; it must exit 0 (nothing left running), else its output is shown. */
export async function stopService(service: ServiceProcess | undefined): Promise<void> {
  if (!service) return;
  if (service.child.exitCode === null) {
    service.child.kill('SIGINT');
    const code = await service.exited;
    expect({ code, output: code === 0 ? '' : service.output() }).toEqual({ code: 0, output: '' });
  }
  rmSync(service.dataDir, { recursive: true, force: true });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A job whose script prints a metrics line (step, loss, learning rate, accuracy) and a plain log
 * line every `intervalSeconds`, `steps` times: long enough to watch, or quick to finish.
 */
export function metricsJob(name: string, steps: number, intervalSeconds: number) {
  const script = [
    'import json, math, time',
    `TOTAL = ${steps}`,
    'for step in range(1, TOTAL + 1):',
    '    loss = 2.2 * math.exp(-step / 60) + 0.04 * math.sin(step / 4) + 0.15',
    '    print(f"batch {step}/{TOTAL} done", flush=True)',
    '    record = {"step": step, "total_steps": TOTAL, "epoch": step // 50, "loss": round(loss, 5),',
    '              "lr": round(0.01 * 0.995 ** step, 6), "accuracy": round(0.95 - 0.8 * math.exp(-step / 80), 4)}',
    '    print(json.dumps(record), flush=True)',
    `    time.sleep(${intervalSeconds})`,
    'print("training finished", flush=True)',
  ].join('\n');
  return { name, instance: { type: 'gpu_1x_a10' }, script: { inline: script, filename: 'train.py' } };
}

/** POST /v1/jobs with the tenant's key; returns the job's id. */
export async function submitJob(origin: string, key: string, body: object): Promise<string> {
  const response = await fetch(`${origin}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { id?: string };
  if (response.status !== 202 || !answer.id)
    throw new Error(`submitting ${JSON.stringify(body)} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer.id;
}

/** GET /v1/jobs/:id's status, as the tenant sees it. */
export async function jobStatus(origin: string, key: string, jobId: string): Promise<string> {
  const response = await fetch(`${origin}/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${key}` } });
  return ((await response.json()) as { status: string }).status;
}

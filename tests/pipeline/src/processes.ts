import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

export type AppName = 'api' | 'provisioner' | 'transfer' | 'monitor';

export interface AppProcess {
  name: string;
  app: AppName;
  child: ChildProcess;
  logFile: string;
  meterFile: string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const REPO_ROOT = join(__dirname, '..', '..', '..');

/**
 * Starts one app exactly as production does (`node apps/<app>/dist/main.js`, configured by env),
 * with the socket meter preloaded so the test can count every byte the process received.
 */
export function startApp(app: AppName, name: string, env: Record<string, string>, workDir: string, meterPreload: string): AppProcess {
  const logFile = join(workDir, `${name}.log`);
  const meterFile = join(workDir, `${name}.meter.json`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--require', meterPreload, join(REPO_ROOT, 'apps', app, 'dist', 'main.js')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, INNO_SOCKET_METER_FILE: meterFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => log.end());
  return {
    name,
    app,
    child,
    logFile,
    meterFile,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Disposable SSH hosts: each one is a real OpenSSH server on its own loopback address, running as
 * PID 1 of new PID and mount namespaces (scripts/instance.sh), with its own empty home and /tmp.
 * They play the rented GPU instances in tests: killing one is "the host died", pausing one is
 * "the host hangs" (TCP still connects, nothing answers).
 *
 * Needs root, /usr/sbin/sshd, unshare and ssh-keygen (see docs/testing-on-this-machine.md).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chaosControls, HostChaos, type ChaosControls } from './chaos';
import { publicKeyFingerprint } from './ssh-keys';
import { waitFor } from './wait-for';

const execFileAsync = promisify(execFile);

export interface StartSshHostOptions {
  /** A loopback address of its own, e.g. 127.0.0.21. */
  ip: string;
  /** Defaults to 2222. */
  port?: number;
  /** authorized_keys lines for the user. */
  authorizedKeys: string[];
  /** Defaults to 'ubuntu', created on demand; any other user must already exist. */
  user?: string;
  /** How long sshd may take to accept TCP connections; defaults to 15 s. */
  startTimeoutMs?: number;
  /**
   * Runs every session through the chaos hook (src/chaos.ts), so `setChaosRule` can make a chosen
   * SSH operation block inside the host. Without a rule sessions behave as on any other host.
   */
  chaos?: boolean;
}

/** The chaos members throw unless the host was started with `chaos: true`. */
export interface SshHost extends ChaosControls {
  ip: string;
  port: number;
  user: string;
  /** Pid of the `unshare` process that owns the instance. */
  pid: number;
  /** SHA-256 of the host key as unpadded base64 (what OpenSSH prints after `SHA256:`). */
  hostKeyFingerprint: string;
  /** SIGKILLs the instance and resolves once every process of it is gone and its files removed. */
  kill(): Promise<void>;
  /** SIGSTOPs every process of the instance: connections open but nothing answers. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  isAlive(): boolean;
  /** sshd's stderr (last 64 KiB), to explain failures in test output. */
  log(): string;
  /** SSH sessions sshd accepted so far (its "Accepted publickey" lines, counted as they come). */
  acceptedSessions(): number;
  /** Resolves when the instance has ended, however that happened. */
  exited: Promise<void>;
}

const INSTANCE_SCRIPT = join(__dirname, '..', 'scripts', 'instance.sh');
/** Not under /tmp: each instance mounts its own /tmp, and sshd re-reads its host key per connection. */
const STATE_ROOT = '/run/inno-test-kit';
const LOG_LIMIT = 64 * 1024;

/**
 * Instances still running, with the directories to remove, killed synchronously if the test
 * process exits without doing it.
 */
const liveInstances = new Map<number, string[]>();
let exitHookInstalled = false;
let ubuntuReady: Promise<void> | undefined;

/** Creates the `ubuntu` user as on Lambda's images, unlocked but with no password; idempotent. */
export function ensureUbuntuUser(): Promise<void> {
  ubuntuReady ??= ensureUserOnce().catch((error: unknown) => {
    ubuntuReady = undefined;
    throw error;
  });
  return ubuntuReady;
}

async function ensureUserOnce(): Promise<void> {
  const script = `id ubuntu >/dev/null 2>&1 || useradd -m -s /bin/bash ubuntu
if [ "$(getent shadow ubuntu | cut -d: -f2)" != '*' ]; then usermod -p '*' ubuntu; fi`;
  // Parallel jest workers may race on /etc/passwd's lock; the loser simply tries again.
  await waitFor(
    async () => {
      await execFileAsync('bash', ['-c', script]);
      return true;
    },
    { timeoutMs: 15_000, intervalMs: 200, description: 'the ubuntu user to exist and be unlocked' },
  );
}

export async function startSshHost(options: StartSshHostOptions): Promise<SshHost> {
  const port = options.port ?? 2222;
  const user = options.user ?? 'ubuntu';
  const label = `${options.ip}:${port}`;
  if (user === 'ubuntu') await ensureUbuntuUser();
  if (await acceptsTcp(options.ip, port)) {
    throw new Error(`${label} already accepts connections; another SSH host is still running there`);
  }
  const stateDir = await prepareStateDir(options.authorizedKeys);
  const hostKeyFingerprint = publicKeyFingerprint(await readFile(join(stateDir, 'ssh_host_ed25519_key.pub'), 'utf8'));
  let chaos: HostChaos | undefined;
  try {
    if (options.chaos) chaos = await HostChaos.prepare(user, label);
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
  const args = [options.ip, String(port), user, stateDir, ...(chaos ? [chaos.hookPath] : [])];
  const instance = await launchInstance(args, chaos ? [stateDir, chaos.dir] : [stateDir]);
  try {
    await waitFor(
      async () => {
        if (!instance.isAlive()) throw new Error(`sshd exited: ${instance.log().trim() || '(no output)'}`);
        return acceptsTcp(options.ip, port);
      },
      { timeoutMs: options.startTimeoutMs ?? 15_000, description: `sshd to accept connections on ${label}` },
    );
  } catch (error) {
    await instance.kill();
    throw error;
  }
  return {
    ip: options.ip,
    port,
    user,
    pid: instance.pid,
    hostKeyFingerprint,
    kill: () => instance.kill(),
    pause: () => instance.pause(),
    resume: () => instance.resume(),
    isAlive: () => instance.isAlive(),
    log: () => instance.log(),
    acceptedSessions: () => instance.acceptedSessions,
    exited: instance.exited,
    ...chaosControls(chaos, label),
  };
}

/** Starts instance.sh in new namespaces; `dirs` are removed when it ends (or fails to start). */
async function launchInstance(args: string[], dirs: string[]): Promise<Instance> {
  const child = spawn('unshare', ['--pid', '--mount', '--fork', '--kill-child', '--mount-proc', 'bash', INSTANCE_SCRIPT, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    return new Instance(child, dirs);
  } catch (error) {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    throw error;
  }
}

async function prepareStateDir(authorizedKeys: string[]): Promise<string> {
  await mkdir(STATE_ROOT, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(STATE_ROOT, 'host-'));
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'inno-test-host', '-f', join(dir, 'ssh_host_ed25519_key')]);
  const keysFile = join(dir, 'authorized_keys');
  await writeFile(keysFile, authorizedKeys.map((line) => `${line.trim()}\n`).join(''), { mode: 0o600 });
  await chmod(keysFile, 0o600);
  return dir;
}

/** True when something accepts a TCP connection on ip:port right now. */
export function acceptsTcp(ip: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

class Instance {
  readonly pid: number;
  readonly exited: Promise<void>;
  private alive = true;
  private logText = '';
  private partialLine = '';
  acceptedSessions = 0;

  constructor(
    private readonly child: ChildProcess,
    /** The state dir and, on a chaos host, the chaos dir. */
    private readonly dirs: string[],
  ) {
    if (child.pid === undefined) {
      // spawn reports the reason (e.g. ENOENT) as an 'error' event, which must not go unhandled.
      child.once('error', () => undefined);
      throw new Error('unshare could not be started');
    }
    this.pid = child.pid;
    liveInstances.set(this.pid, dirs);
    installExitHook();
    const keepLog = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.logText = (this.logText + text).slice(-LOG_LIMIT);
      const lines = (this.partialLine + text).split('\n');
      this.partialLine = lines.pop() ?? '';
      this.acceptedSessions += lines.filter((line) => line.includes('Accepted publickey for ')).length;
    };
    child.stdout?.on('data', keepLog);
    child.stderr?.on('data', keepLog);
    // A host a test forgot to kill must not keep jest alive; the exit hook still kills it.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
    this.exited = new Promise<void>((resolve) => {
      const finish = () => {
        this.alive = false;
        liveInstances.delete(this.pid);
        Promise.allSettled(this.dirs.map((dir) => rm(dir, { recursive: true, force: true }))).finally(resolve);
      };
      child.once('exit', finish);
      child.once('error', (error) => {
        this.logText += `\n${error.message}`;
        finish();
      });
    });
  }

  isAlive(): boolean {
    return this.alive;
  }

  log(): string {
    return this.logText;
  }

  async kill(): Promise<void> {
    const members = instanceProcesses(this.pid);
    if (this.alive) {
      // Keep the loop alive while we wait for the exit event of an unref'd child.
      this.child.ref();
      signal(this.pid, 'SIGKILL');
    }
    await this.exited;
    // --kill-child delivers SIGKILL to the namespace's init after unshare itself has died.
    await waitFor(() => members.every((pid) => !isRunning(pid)), {
      timeoutMs: 10_000,
      intervalMs: 20,
      description: `every process of the SSH host (unshare pid ${this.pid}) to end`,
    });
  }

  async pause(): Promise<void> {
    const stopped = new Set<number>();
    // Each round stops parents before children and picks up anything forked since the last
    // round; done once every process of the instance is seen stopped.
    await waitFor(
      () => {
        for (const pid of instanceProcesses(this.pid)) {
          if (stopped.has(pid)) continue;
          signal(pid, 'SIGSTOP');
          stopped.add(pid);
        }
        return instanceProcesses(this.pid).every((pid) => stopped.has(pid) && !isRunnable(pid));
      },
      { timeoutMs: 5_000, intervalMs: 10, description: `every process of the SSH host (unshare pid ${this.pid}) to stop` },
    );
  }

  async resume(): Promise<void> {
    for (const pid of instanceProcesses(this.pid)) signal(pid, 'SIGCONT');
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    // The process may have ended between listing and signalling it.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Descendants of the unshare process, parents before children (the unshare itself excluded). */
export function instanceProcesses(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentPid(Number(entry));
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const result: number[] = [];
  const queue = [...(children.get(rootPid) ?? [])];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    result.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return result;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function parentPid(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

function processState(pid: number): string | undefined {
  return statFields(pid)?.[0];
}

/** A zombie has released everything (ports, files); only its exit status waits for a reaper. */
function isRunning(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Stopped (by a signal or a tracer) or no longer running at all. */
function isRunnable(pid: number): boolean {
  const state = processState(pid);
  return isRunning(pid) && state !== 'T' && state !== 't';
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [pid, dirs] of liveInstances) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
}

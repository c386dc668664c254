/**
 * Light test hosts for scale (issue 16): one in-process server object, using ssh2's server side,
 * that plays many instances at once, each on its own loopback address, each with a home folder and
 * a uid of its own. An OpenSSH host (ssh-host.ts) costs an sshd, a namespace and an sshd per
 * connection; a thousand of them do not fit on two cores, these do. Keep the OpenSSH hosts for
 * correctness tests: this speaks the same protocol to the same host scripts, but it is not sshd.
 *
 * Per instance:
 * - publickey auth only, for `ubuntu` with the keys it was launched with (the signature verified);
 * - one host key per server, presented by every instance (the orchestrator pins per job);
 * - `exec` through `bash -c` as the instance's uid in its home (light-host-exec.ts);
 * - the SFTP subset the executor's atomic upload uses (light-host-sftp.ts);
 * - `keepalive@openssh.com` and other global requests answered with a failure by ssh2, as sshd does;
 * - `kill()` closes the listener, drops every connection and SIGKILLs every process of the uid
 *   (light-host-processes.ts), detached runners included, then removes the home.
 */
import { rmSync } from 'node:fs';
import { chown, chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, utils, type Connection, type ParsedKey, type PublicKeyAuthContext, type AuthContext, type Session } from 'ssh2';
import { chaosControls } from './chaos';
import { killAllOf, processesOf, signalPids, instanceUid } from './light-host-processes';
import { runExec } from './light-host-exec';
import { serveSftp } from './light-host-sftp';
import type { SshHost, StartSshHostOptions } from './ssh-host';
import { publicKeyFingerprint } from './ssh-keys';

export interface LightHostServer {
  /** Starts one instance; the same options and the same interface as startSshHost (chaos is refused). */
  startHost(options: StartSshHostOptions): Promise<SshHost>;
  /** Instances started and not yet killed. */
  liveHosts(): number;
  /** Kills every instance still running and removes the server's folder. */
  close(): Promise<void>;
}

export interface LightHostServerOptions {
  /** Told when an instance accepted a session or logged a line (light-host-process.ts mirrors them). */
  onActivity?: (ip: string) => void;
}

const LOG_LIMIT = 16 * 1024;
/** Folders and uids of every live instance of every server, cleaned synchronously if the process exits first. */
const liveInstances = new Map<number, string>();
let exitHookInstalled = false;

export async function startLightHostServer(options: LightHostServerOptions = {}): Promise<LightHostServer> {
  const root = await mkdtemp(join(tmpdir(), 'inno-light-hosts-'));
  // Each instance's uid must reach its own home below.
  await chmod(root, 0o755);
  const keys = utils.generateKeyPairSync('ed25519');
  const hostKeyFingerprint = publicKeyFingerprint(keys.public);
  const hosts = new Set<SshHost>();
  installExitHook();
  return {
    async startHost(hostOptions) {
      const host = await startInstance(hostOptions, { root, hostKey: keys.private, hostKeyFingerprint, onActivity: options.onActivity });
      hosts.add(host);
      void host.exited.then(() => hosts.delete(host));
      return host;
    },
    liveHosts: () => hosts.size,
    async close() {
      await Promise.all([...hosts].map((host) => host.kill()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

interface ServerShared {
  root: string;
  hostKey: string;
  hostKeyFingerprint: string;
  onActivity: ((ip: string) => void) | undefined;
}

async function startInstance(options: StartSshHostOptions, shared: ServerShared): Promise<SshHost> {
  if (options.chaos) throw new Error('Light hosts have no chaos hook; use startSshHost for chaos tests');
  const port = options.port ?? 2222;
  const user = options.user ?? 'ubuntu';
  const label = `${options.ip}:${port}`;
  const uid = instanceUid(options.ip);
  const home = join(shared.root, options.ip);
  await mkdir(home, { mode: 0o755 });
  await chown(home, uid, uid);
  liveInstances.set(uid, home);
  const onActivity = shared.onActivity && (() => shared.onActivity!(options.ip));
  const instance = new LightInstance(label, uid, home, user, parseAuthorizedKeys(options.authorizedKeys), shared.hostKey, onActivity);
  try {
    await instance.listen(options.ip, port);
  } catch (error) {
    await instance.kill();
    throw error;
  }
  return {
    ip: options.ip,
    port,
    user,
    // Not a process of its own: the light server's. Never signal it.
    pid: process.pid,
    hostKeyFingerprint: shared.hostKeyFingerprint,
    kill: () => instance.kill(),
    pause: async () => instance.pause(),
    resume: async () => instance.resume(),
    isAlive: () => instance.alive,
    log: () => instance.logText,
    acceptedSessions: () => instance.accepted,
    exited: instance.exited,
    ...chaosControls(undefined, label),
  };
}

function parseAuthorizedKeys(lines: string[]): ParsedKey[] {
  return lines.map((line) => {
    const parsed = utils.parseKey(line.trim());
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) throw new Error(`Cannot parse an authorized key: ${key instanceof Error ? key.message : 'empty'}`);
    return key;
  });
}

class LightInstance {
  alive = true;
  accepted = 0;
  logText = '';
  readonly exited: Promise<void>;
  private markExited: () => void = () => undefined;
  private readonly listener: NetServer;
  private readonly ssh: Server;
  private readonly sockets = new Set<Socket>();
  private readonly held: Socket[] = [];
  private paused = false;
  private killing: Promise<void> | undefined;

  constructor(
    private readonly label: string,
    private readonly uid: number,
    private readonly home: string,
    private readonly user: string,
    private readonly keys: ParsedKey[],
    hostKey: string,
    private readonly onActivity: (() => void) | undefined,
  ) {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    this.ssh = new Server({ hostKeys: [hostKey] }, (client) => this.onClient(client));
    this.listener = createServer((socket) => this.onSocket(socket));
    // Like an sshd the test forgot to kill: it must not keep jest alive (the exit hook still cleans up).
    this.listener.unref();
  }

  listen(ip: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, ip, () => {
        this.listener.removeListener('error', reject);
        resolve();
      });
    });
  }

  private log(line: string): void {
    this.logText = `${this.logText}${new Date().toISOString()} ${line}\n`.slice(-LOG_LIMIT);
    this.onActivity?.();
  }

  private onSocket(socket: Socket): void {
    if (!this.alive) return void socket.destroy();
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.paused) this.held.push(socket);
    else this.ssh.injectSocket(socket);
  }

  private onClient(client: Connection): void {
    client.on('error', (error) => this.log(`connection error: ${error.message}`));
    client.on('authentication', (ctx) => this.authenticate(ctx));
    client.on('ready', () => {
      this.accepted++;
      this.onActivity?.();
      client.on('session', (accept) => this.onSession(accept()));
    });
  }

  private authenticate(ctx: AuthContext): void {
    if (ctx.method !== 'publickey' || ctx.username !== this.user) return ctx.reject(['publickey']);
    const offered = ctx as PublicKeyAuthContext;
    const key = this.keys.find((candidate) => candidate.getPublicSSH().equals(offered.key.data));
    if (!key) {
      this.log(`refused a key for ${ctx.username} (not authorized)`);
      return ctx.reject(['publickey']);
    }
    // Without a signature the client only asks whether the key would do (SSH_MSG_USERAUTH_PK_OK).
    if (offered.signature && offered.blob && key.verify(offered.blob, offered.signature, offered.hashAlgo) !== true) {
      this.log(`refused a key for ${ctx.username} (bad signature)`);
      return ctx.reject(['publickey']);
    }
    if (offered.signature) this.log(`Accepted publickey for ${ctx.username}`);
    ctx.accept();
  }

  private onSession(session: Session): void {
    const context = { uid: this.uid, home: this.home };
    let signal: (name: string) => void = () => undefined;
    session.on('exec', (accept, _reject, info) => {
      signal = runExec(accept, info.command, context);
    });
    session.on('signal', (accept, _reject, info) => {
      signal(info.name);
      accept?.();
    });
    session.on('sftp', (accept) => serveSftp(accept(), context));
  }

  pause(): void {
    this.paused = true;
    for (const socket of this.sockets) socket.pause();
    signalPids(processesOf(this.uid), 'SIGSTOP');
  }

  resume(): void {
    this.paused = false;
    signalPids(processesOf(this.uid), 'SIGCONT');
    for (const socket of this.sockets) socket.resume();
    for (const socket of this.held.splice(0)) this.ssh.injectSocket(socket);
  }

  /** "The host died": no more connections, every connection dropped, every process SIGKILLed, the home removed. */
  kill(): Promise<void> {
    this.killing ??= this.killOnce();
    return this.killing;
  }

  private async killOnce(): Promise<void> {
    this.alive = false;
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    try {
      await killAllOf(this.uid, this.label);
      await closed;
      await rm(this.home, { recursive: true, force: true });
    } finally {
      liveInstances.delete(this.uid);
      this.markExited();
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [uid, home] of liveInstances) {
      signalPids(processesOf(uid), 'SIGKILL');
      rmSync(home, { recursive: true, force: true });
    }
  });
}

import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { Client } from 'ssh2';
import {
  acceptsTcp,
  generateSshKeyPair,
  instanceProcesses,
  readSocketMeter,
  socketMeterPreloadPath,
  startSshHost,
  waitFor,
  type SshHost,
} from '../src';

const execFileAsync = promisify(execFile);

interface RunResult {
  stdout: string;
  code: number | null;
  fingerprint: string;
}

/** One ssh2 connection, one command; deliberately independent of @inno-train/ssh-executor. */
function run(
  host: SshHost,
  privateKey: string,
  command: string,
  opts: { passphrase?: string; readyTimeout?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let fingerprint = '';
    // ssh2 may emit a second error (e.g. "Connection lost before handshake" after a timeout).
    client.on('error', (error) => {
      client.destroy();
      reject(error);
    });
    client.once('ready', () => {
      client.exec(command, (error, channel) => {
        if (error) return reject(error);
        let stdout = '';
        let code: number | null = null;
        channel.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        channel.stderr.resume();
        channel.on('exit', (exitCode: number | null) => (code = exitCode));
        channel.on('close', () => {
          client.end();
          resolve({ stdout, code, fingerprint });
        });
      });
    });
    client.connect({
      host: host.ip,
      port: host.port,
      username: 'ubuntu',
      privateKey,
      passphrase: opts.passphrase,
      readyTimeout: opts.readyTimeout ?? 10_000,
      hostVerifier: (key: Buffer) => {
        fingerprint = createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
        return true;
      },
    });
  });
}

/** State letter from /proc (R, S, T, Z...), or 'gone'. */
function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? 'gone';
  } catch {
    return 'gone';
  }
}

describe('disposable SSH hosts', () => {
  const keys = generateSshKeyPair();
  let first: SshHost;
  let second: SshHost;

  beforeAll(async () => {
    [first, second] = await Promise.all([
      startSshHost({ ip: '127.0.0.21', authorizedKeys: [keys.publicKey] }),
      startSshHost({ ip: '127.0.0.22', authorizedKeys: [keys.publicKey] }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([first?.kill(), second?.kill()]);
  });

  it('serves ssh as ubuntu with the advertised host key', async () => {
    const result = await run(first, keys.privateKey, 'id -un; echo "$HOME"');
    expect(result).toEqual({ stdout: 'ubuntu\n/home/ubuntu\n', code: 0, fingerprint: first.hostKeyFingerprint });
    expect(first.hostKeyFingerprint).not.toEqual(second.hostKeyFingerprint);
    expect(first.port).toBe(2222);
    expect(first.isAlive()).toBe(true);
  });

  it('gives each host its own home, /tmp and processes', async () => {
    await run(first, keys.privateKey, 'echo one > ~/marker && echo one > /tmp/marker');
    const onFirst = await run(first, keys.privateKey, 'cat ~/marker /tmp/marker');
    const onSecond = await run(second, keys.privateKey, 'test -e ~/marker || test -e /tmp/marker; echo $?');
    expect(onFirst.stdout).toBe('one\none\n');
    expect(onSecond.stdout).toBe('1\n');
    expect(existsSync('/home/ubuntu/marker')).toBe(false);
    const processes = await run(second, keys.privateKey, 'ps -eo pid=,comm= | head -1');
    expect(processes.stdout.trim()).toMatch(/^1 sshd$/);
  });

  it('pause makes the host hang (TCP connects, ssh never answers) and resume brings it back', async () => {
    await first.pause();
    try {
      expect(await acceptsTcp(first.ip, first.port)).toBe(true);
      await expect(run(first, keys.privateKey, 'true', { readyTimeout: 1500 })).rejects.toThrow(/Timed out while waiting for handshake/);
    } finally {
      await first.resume();
    }
    expect((await run(first, keys.privateKey, 'echo back')).stdout).toBe('back\n');
  });

  it('logs in with a passphrase-protected key that OpenSSH can read too', async () => {
    const protectedKeys = generateSshKeyPair({ passphrase: 'correct horse battery' });
    expect(protectedKeys.privateKey).toContain('BEGIN OPENSSH PRIVATE KEY');
    const dir = await mkdtemp(join(tmpdir(), 'keys-'));
    try {
      await writeFile(join(dir, 'id'), protectedKeys.privateKey, { mode: 0o600 });
      const { stdout } = await execFileAsync('ssh-keygen', ['-y', '-P', 'correct horse battery', '-f', join(dir, 'id')]);
      expect(stdout.trim().split(' ').slice(0, 2)).toEqual(protectedKeys.publicKey.split(' ').slice(0, 2));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const host = await startSshHost({ ip: '127.0.0.23', port: 2200, authorizedKeys: [protectedKeys.publicKey] });
    try {
      const result = await run(host, protectedKeys.privateKey, 'echo ok', { passphrase: 'correct horse battery' });
      expect(result.stdout).toBe('ok\n');
      await expect(run(host, keys.privateKey, 'true')).rejects.toThrow(/authentication methods failed/);
    } finally {
      await host.kill();
    }
  });

  it('kill ends every process, closes the port and settles `exited`', async () => {
    const host = await startSshHost({ ip: '127.0.0.24', authorizedKeys: [keys.publicKey] });
    const members = instanceProcesses(host.pid);
    expect(members.length).toBeGreaterThan(0);
    await host.kill();
    await host.exited;
    expect(host.isAlive()).toBe(false);
    expect(await acceptsTcp(host.ip, host.port)).toBe(false);
    for (const pid of [host.pid, ...members]) expect(['gone', 'Z']).toContain(processState(pid));
    await host.kill(); // idempotent
  });

  it('refuses to start where something already listens', async () => {
    await expect(startSshHost({ ip: first.ip, authorizedKeys: [keys.publicKey] })).rejects.toThrow(/already accepts connections/);
  });
});

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    await expect(
      waitFor(() => (++calls >= 3 ? `done after ${calls}` : false), { timeoutMs: 2000, intervalMs: 5, description: 'three calls' }),
    ).resolves.toBe('done after 3');
  });

  it('names the condition and the last error at the deadline', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('still broken');
        },
        { timeoutMs: 100, intervalMs: 10, description: 'the widget' },
      ),
    ).rejects.toThrow(/waiting for the widget; last check failed: still broken/);
  });

  it('cuts off a check that hangs', async () => {
    const started = Date.now();
    await expect(waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 150, description: 'a hung check' })).rejects.toThrow(
      /a hung check/,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('socket meter', () => {
  const payload = Buffer.alloc(1024 * 1024 + 123, 7);
  let http: HttpServer;
  let raw: NetServer;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meter-'));
    http = createHttpServer((_req, res) => res.end(payload));
    raw = createNetServer((socket) => socket.end(payload));
    await Promise.all([
      new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)),
      new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve)),
    ]);
  });

  afterAll(async () => {
    await new Promise((resolve) => http.close(resolve));
    await new Promise((resolve) => raw.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  async function meteredChild(name: string, script: string): Promise<ReturnType<typeof readSocketMeter>> {
    const file = join(dir, `${name}.json`);
    const child = spawn(process.execPath, ['--require', socketMeterPreloadPath(), '-e', script], {
      env: { ...process.env, INNO_SOCKET_METER_FILE: file },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    return readSocketMeter(file);
  }

  it('counts bytes fetched with fetch (undici)', async () => {
    const port = (http.address() as AddressInfo).port;
    const reading = await meteredChild(
      'fetch',
      `fetch('http://127.0.0.1:${port}/').then((r) => r.arrayBuffer()).then((b) => { if (b.byteLength !== ${payload.length}) process.exit(3); })`,
    );
    expect(reading?.bytesRead).toBeGreaterThanOrEqual(payload.length);
    expect(reading?.bytesWritten).toBeGreaterThan(0);
  });

  it('counts bytes read by `new Socket().connect()` (as ssh2 does) on closed sockets', async () => {
    const port = (raw.address() as AddressInfo).port;
    const script = `const s = new (require('net').Socket)(); let n = 0; s.on('data', (d) => (n += d.length)); s.on('close', () => { if (n !== ${payload.length}) process.exit(3); }); s.connect(${port}, '127.0.0.1');`;
    const reading = await meteredChild('raw', script);
    expect(reading?.bytesRead).toBe(payload.length);
  });

  it('counts bytes received by server-side sockets', async () => {
    const script = `const net = require('net');
      const server = net.createServer((s) => { s.resume(); s.on('close', () => server.close()); });
      server.listen(0, '127.0.0.1', () => { const c = net.connect(server.address().port, '127.0.0.1', () => c.end(Buffer.alloc(${payload.length}))); });`;
    const reading = await meteredChild('server', script);
    // The client only writes, so everything read was read by the accepted socket.
    expect(reading?.bytesRead).toBe(payload.length);
    expect(reading?.bytesWritten).toBe(payload.length);
  });

  it('reports nothing for a file never written', () => {
    expect(readSocketMeter(join(dir, 'absent.json'))).toBeUndefined();
  });
});

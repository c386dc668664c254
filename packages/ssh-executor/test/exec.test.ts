import { InfrastructureError, InnoError } from '@inno-train/core';
import { generateSshKeyPair, startSshHost, waitFor } from '@inno-train/test-kit';
import { SshExecutor, type SshConnectionRecord, type SshSessionRecord, type SshTarget } from '../src';
import { startFixture, waitForNoConnections, type Fixture } from './helpers';

describe('SshExecutor.exec against a real sshd', () => {
  let logins = 0;
  const ssh = new SshExecutor({ readyTimeoutMs: 10_000, onConnection: () => logins++ });
  let fx: Fixture;

  beforeAll(async () => {
    fx = await startFixture('127.0.0.51');
  });

  afterAll(async () => {
    await ssh.close();
    await fx?.host.kill();
  });

  it('returns stdout, stderr and the exit code separately', async () => {
    const result = await ssh.exec(fx.target, 'echo out; echo err >&2; exit 3');
    expect(result).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3, signal: null, stdoutTruncated: false, stderrTruncated: false });
    expect((await ssh.exec(fx.target, 'true')).exitCode).toBe(0);
  });

  it('reports a command killed by a signal', async () => {
    const result = await ssh.exec(fx.target, 'kill -TERM $$');
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe('SIGTERM');
  });

  it('feeds stdin and always closes it', async () => {
    const text = 'línea uno\nline "two" $(not run)\n';
    expect((await ssh.exec(fx.target, 'cat', { stdin: text })).stdout).toBe(text);
    const binary = Buffer.alloc(300_000, 0xab);
    expect((await ssh.exec(fx.target, 'wc -c', { stdin: binary })).stdout.trim()).toBe('300000');
    // Without stdin, a command reading it gets EOF at once instead of hanging.
    expect(await ssh.exec(fx.target, 'cat', { timeoutMs: 5000 })).toMatchObject({ stdout: '', exitCode: 0 });
  });

  it('caps each stream at maxOutputBytes and says so', async () => {
    const capped = await ssh.exec(fx.target, "head -c 5000 /dev/zero | tr '\\0' a; echo small >&2", { maxOutputBytes: 1000 });
    expect(capped.stdout).toBe('a'.repeat(1000));
    expect(capped).toMatchObject({ stdoutTruncated: true, stderr: 'small\n', stderrTruncated: false, exitCode: 0 });
    const byDefault = await ssh.exec(fx.target, "head -c 3000000 /dev/zero | tr '\\0' b >&2");
    expect(byDefault.stderr.length).toBe(1024 * 1024);
    expect(byDefault.stderrTruncated).toBe(true);
    // A multi-byte character cut by the cap is dropped, not turned into U+FFFD.
    const utf8 = await ssh.exec(fx.target, "printf 'ééé'", { maxOutputBytes: 3 });
    expect(utf8.stdout).toBe('é');
  });

  it('times out, kills the remote command and closes its channel, not the shared connection', async () => {
    await ssh.exec(fx.target, 'true');
    const loginsBefore = logins;
    const started = Date.now();
    const error = await ssh.exec(fx.target, 'sleep 2; touch ~/too-late', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'ssh_timeout', retryable: true });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await ssh.exec(fx.target, 'test -e ~/too-late; echo $?')).stdout).toBe('1\n');
    expect((await ssh.exec(fx.target, 'pgrep -x sleep; echo done')).stdout).toBe('done\n');
    expect(logins).toBe(loginsBefore);
  });

  it('stops when the caller aborts, closing only its channel', async () => {
    await ssh.exec(fx.target, 'true');
    const loginsBefore = logins;
    const controller = new AbortController();
    const reason = new Error('job cancelled');
    setTimeout(() => controller.abort(reason), 300);
    await expect(ssh.exec(fx.target, 'sleep 7', { signal: controller.signal })).rejects.toBe(reason);
    await expect(ssh.exec(fx.target, 'true', { signal: controller.signal })).rejects.toBe(reason);
    // The remote process group was killed, not merely abandoned.
    await waitFor(async () => (await ssh.exec(fx.target, 'pgrep -x sleep || echo none')).stdout === 'none\n', {
      timeoutMs: 3000,
      description: 'the aborted remote command to be gone',
    });
    // The shared connection carried on: no new login was needed.
    expect(logins).toBe(loginsBefore);
  });

  it('tells onSession about every call and onConnection about every login, and sshd agrees on the count', async () => {
    const sessions: SshSessionRecord[] = [];
    const connections: SshConnectionRecord[] = [];
    const counted = new SshExecutor({
      readyTimeoutMs: 10_000,
      onSession: (session) => sessions.push(session),
      onConnection: (connection) => connections.push(connection),
    });
    const before = fx.host.acceptedSessions();
    await counted.exec(fx.target, 'true', { label: 'first' });
    await counted.upload(fx.target, 'counted.txt', 'x', 0o600, { label: 'second' });
    expect(await counted.probe(fx.target, 5000)).toBe(true);
    await counted.exec({ ...fx.target, host: '127.0.0.59' }, 'true', { label: 'nobody' }).catch(() => undefined);
    expect(sessions.map(({ kind, label, ok, errorCode }) => ({ kind, label, ok, errorCode }))).toEqual([
      { kind: 'exec', label: 'first', ok: true, errorCode: undefined },
      { kind: 'upload', label: 'second', ok: true, errorCode: undefined },
      { kind: 'exec', label: 'probe', ok: true, errorCode: undefined },
      { kind: 'exec', label: 'nobody', ok: false, errorCode: 'ssh_unreachable' },
    ]);
    expect(sessions.every((session) => session.ms >= 0 && session.port === fx.target.port)).toBe(true);
    // Three calls, one login (the calls share it), and one failed attempt at the address nobody serves.
    expect(connections.map(({ host, ok, errorCode }) => ({ host, ok, errorCode }))).toEqual([
      { host: fx.target.host, ok: true, errorCode: undefined },
      { host: '127.0.0.59', ok: false, errorCode: 'ssh_unreachable' },
    ]);
    await counted.close();
    // The host's sshd logged exactly the logins onConnection reported: nothing was opened unreported.
    await waitFor(() => fx.host.acceptedSessions() - before === 1 || undefined, { timeoutMs: 5000, description: 'sshd to log 1 login' });
    expect(fx.host.acceptedSessions() - before).toBe(1);
  });

  it('says ssh_unreachable when nothing listens', async () => {
    const target: SshTarget = { ...fx.target, host: '127.0.0.59' };
    const error = await ssh.exec(target, 'true').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'ssh_unreachable', retryable: true });
    expect(await ssh.probe(target, 2000)).toBe(false);
  });

  it('says ssh_auth_failed for a key the host does not know, without leaking key material', async () => {
    const stranger = generateSshKeyPair({ passphrase: 'stranger-passphrase-123' });
    const target: SshTarget = { ...fx.target, privateKey: stranger.privateKey, passphrase: 'stranger-passphrase-123' };
    const error = (await ssh.exec(target, 'true').catch((e: unknown) => e)) as InfrastructureError;
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'ssh_auth_failed', retryable: false });
    const shown = `${error.message} ${JSON.stringify(error.details)} ${String(error.stack)}`;
    expect(shown).not.toContain('stranger-passphrase-123');
    expect(shown).not.toContain(stranger.privateKey.split('\n')[1]);
    expect(await ssh.probe(target, 5000)).toBe(false);
  });

  it('says ssh_invalid_key for a key it cannot decrypt, without showing the passphrase', async () => {
    const locked = generateSshKeyPair({ passphrase: 'the-right-one' });
    const target: SshTarget = { ...fx.target, privateKey: locked.privateKey, passphrase: 'wrong-passphrase-456' };
    const error = (await ssh.exec(target, 'true').catch((e: unknown) => e)) as InnoError;
    expect(error).toBeInstanceOf(InnoError);
    expect(error).toMatchObject({ code: 'ssh_invalid_key', retryable: false });
    expect(error.message).not.toContain('wrong-passphrase-456');
    expect(error.message).not.toContain(locked.privateKey.split('\n')[1]);
    await expect(ssh.probe(target, 5000)).rejects.toMatchObject({ code: 'ssh_invalid_key' });
    // Preloading the same key at start-up says it is unusable and leaves the call's typed error as it was.
    expect(ssh.preloadKey(target)).toBe(false);
    await expect(ssh.exec(target, 'true')).rejects.toMatchObject({ code: 'ssh_invalid_key' });
  });

  it('preloads an encrypted key once, and the calls that follow use it', async () => {
    const locked = generateSshKeyPair({ passphrase: 'preload-passphrase' });
    const target: SshTarget = { ...fx.target, privateKey: locked.privateKey, passphrase: 'preload-passphrase' };
    expect(ssh.preloadKey(target)).toBe(true);
    // Not authorized on the host: what matters is that the key was decrypted and offered (auth, not key, failure).
    await expect(ssh.exec(target, 'true')).rejects.toMatchObject({ code: 'ssh_auth_failed' });
  });

  it('records the host key, accepts it pinned and refuses any other', async () => {
    const fresh = new SshExecutor();
    expect(fresh.hostKeyFingerprint(fx.target)).toBeUndefined();
    expect(await fresh.probe(fx.target, 5000)).toBe(true);
    expect(fresh.hostKeyFingerprint(fx.target)).toBe(fx.host.hostKeyFingerprint);
    const pinned = { ...fx.target, hostKeyFingerprint: `SHA256:${fx.host.hostKeyFingerprint}` };
    expect((await fresh.exec(pinned, 'echo pinned')).stdout).toBe('pinned\n');
    const wrong = { ...fx.target, hostKeyFingerprint: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    const error = await fresh.exec(wrong, 'touch ~/should-not-exist').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'host_key_mismatch', retryable: false });
    expect((error as Error).message).toContain(fx.host.hostKeyFingerprint);
    expect(await fresh.probe(wrong, 5000)).toBe(false);
    expect((await fresh.exec(pinned, 'test -e ~/should-not-exist; echo $?')).stdout).toBe('1\n');
    await fresh.close();
  });

  it('treats a hung host (TCP accepts, SSH silent) as a timeout, with or without a pooled connection', async () => {
    await ssh.exec(fx.target, 'true');
    let quick = new SshExecutor();
    await fx.host.pause();
    try {
      const started = Date.now();
      await expect(ssh.exec(fx.target, 'true', { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ssh_timeout', retryable: true });
      expect(Date.now() - started).toBeLessThan(3000);
      quick = new SshExecutor({ readyTimeoutMs: 800 });
      await expect(quick.exec(fx.target, 'true', { timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'ssh_timeout' });
      expect(await ssh.probe(fx.target, 800)).toBe(false);
    } finally {
      await fx.host.resume();
    }
    expect(await ssh.probe(fx.target, 5000)).toBe(true);
    // Nothing leaked: once the executors are closed, no connection to the host is left.
    await Promise.all([ssh.close(), quick.close()]);
    await waitForNoConnections(fx.host.ip, fx.host.port);
  });

  it('says ssh_connection_lost when the host dies mid-command', async () => {
    const keys = generateSshKeyPair();
    const doomed = await startSshHost({ ip: '127.0.0.52', authorizedKeys: [keys.publicKey] });
    const target: SshTarget = { host: doomed.ip, port: doomed.port, username: 'ubuntu', privateKey: keys.privateKey };
    try {
      const running = ssh.exec(target, 'echo started; sleep 30', { timeoutMs: 20_000 });
      const outcome = running.catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 700));
      await doomed.kill();
      expect(await outcome).toMatchObject({ code: 'ssh_connection_lost', retryable: true });
      await expect(ssh.exec(target, 'true')).rejects.toMatchObject({ code: 'ssh_unreachable' });
    } finally {
      await doomed.kill();
    }
  });
});

/**
 * One shared connection per host (issue 16): calls reuse one login, wait for a channel beyond the
 * cap, and survive a connection that died between calls; a connection that dies under calls fails
 * them at once. Real sshd hosts on 127.0.20.x; a TCP relay (tcp-proxy.ts) kills connections the
 * way a rebooted host does.
 */
import { InfrastructureError } from '@inno-train/core';
import { generateSshKeyPair, startSshHost, waitFor, type SshHost } from '@inno-train/test-kit';
import { SshExecutor, type SshConnectionRecord, type SshExecutorOptions, type SshSessionRecord, type SshTarget } from '../src';
import { openConnectionsTo, waitForNoConnections } from './helpers';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

describe('SshExecutor connection pool against a real sshd', () => {
  const keys = generateSshKeyPair();
  let host: SshHost;
  let target: SshTarget;
  const executors: SshExecutor[] = [];

  /** An executor whose logins and calls the test can count; closed after each test. */
  function counted(options: SshExecutorOptions = {}) {
    const connections: SshConnectionRecord[] = [];
    const sessions: SshSessionRecord[] = [];
    const ssh = new SshExecutor({
      ...options,
      onConnection: (record) => connections.push(record),
      onSession: (record) => sessions.push(record),
    });
    executors.push(ssh);
    return { ssh, connections, sessions, logins: () => connections.filter((record) => record.ok).length };
  }

  function targetOf(server: { ip: string; port: number }): SshTarget {
    return { host: server.ip, port: server.port, username: 'ubuntu', privateKey: keys.privateKey };
  }

  beforeAll(async () => {
    host = await startSshHost({ ip: '127.0.20.1', authorizedKeys: [keys.publicKey] });
    target = targetOf(host);
  });

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((ssh) => ssh.close()));
  });

  afterAll(async () => {
    await host?.kill();
  });

  it('serves sequential and concurrent calls of every kind over one login', async () => {
    const { ssh, connections, sessions } = counted();
    const sshdBefore = host.acceptedSessions();
    for (let i = 0; i < 4; i++) expect((await ssh.exec(target, `echo ${i}`)).stdout).toBe(`${i}\n`);
    await ssh.upload(target, 'pooled.txt', 'pooled\n');
    expect(await ssh.probe(target, 5000)).toBe(true);
    const outputs = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => ssh.exec(target, `cat pooled.txt; echo ${i}`)));
    expect(outputs.map((result) => result.stdout)).toEqual([1, 2, 3, 4, 5, 6].map((i) => `pooled\n${i}\n`));
    expect(connections).toEqual([expect.objectContaining({ host: target.host, port: target.port, ok: true })]);
    expect(sessions).toHaveLength(12);
    expect(sessions.every((session) => session.ok)).toBe(true);
    expect(await openConnectionsTo(host.ip, host.port)).toBe(1);
    await waitFor(() => host.acceptedSessions() - sshdBefore >= 1 || undefined, { timeoutMs: 5000, description: 'sshd to log the login' });
    expect(host.acceptedSessions() - sshdBefore).toBe(1);
  });

  it('reports the exit status of every fast command on a shared connection', async () => {
    // ssh2 can deliver a short command's reply, output, exit status and close in one read; a
    // collector attached one await late missed the status (exit code null, probe said false).
    const { ssh, logins } = counted();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => ssh.exec(target, `echo ${i}; exit 3`)));
    expect(results.filter((result) => result.exitCode !== 3)).toEqual([]);
    expect(results.map((result) => result.stdout)).toEqual(Array.from({ length: 300 }, (_, i) => `${i}\n`));
    expect(logins()).toBe(1);
  });

  it('runs more concurrent calls than the channel cap, never more than the cap at once', async () => {
    const { ssh, logins } = counted({ maxChannelsPerConnection: 2 });
    await ssh.exec(target, 'rm -f cap.log');
    const results = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6].map((i) => ssh.exec(target, `echo start >> cap.log; sleep 0.2; echo end >> cap.log; echo ${i}`)),
    );
    expect(results.map((result) => result.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n', '6\n']);
    const lines = (await ssh.exec(target, 'cat cap.log')).stdout.trim().split('\n');
    let running = 0;
    let most = 0;
    for (const line of lines) {
      running += line === 'start' ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(lines).toHaveLength(14);
    expect(most).toBe(2);
    expect(logins()).toBe(1);
  });

  it('counts the wait for a free channel against the waiting call own timeout', async () => {
    const { ssh } = counted({ maxChannelsPerConnection: 1 });
    const long = ssh.exec(target, 'sleep 2; echo long');
    const started = Date.now();
    await expect(ssh.exec(target, 'echo short', { timeoutMs: 400 })).rejects.toMatchObject({ code: 'ssh_timeout' });
    expect(Date.now() - started).toBeLessThan(1500);
    expect((await long).stdout).toBe('long\n');
  });

  it('closes an idle connection and logs in again for the next call', async () => {
    const { ssh, logins } = counted({ idleCloseMs: 300 });
    await ssh.exec(target, 'true');
    expect(await openConnectionsTo(host.ip, host.port)).toBe(1);
    await waitForNoConnections(host.ip, host.port);
    expect((await ssh.exec(target, 'echo again')).stdout).toBe('again\n');
    expect(logins()).toBe(2);
  });

  it('keeps a connection with a channel open past idleCloseMs', async () => {
    const { ssh, logins } = counted({ idleCloseMs: 200 });
    expect((await ssh.exec(target, 'sleep 0.8; echo busy')).stdout).toBe('busy\n');
    expect((await ssh.exec(target, 'echo same')).stdout).toBe('same\n');
    expect(logins()).toBe(1);
  });

  it('refuses a pinned host key that does not match, even with a pooled connection to that address', async () => {
    const { ssh, connections } = counted();
    expect((await ssh.exec(target, 'echo unpinned')).stdout).toBe('unpinned\n');
    const wrong = { ...target, hostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    await expect(ssh.exec(wrong, 'touch ~/pinned-wrong')).rejects.toMatchObject({ code: 'host_key_mismatch', retryable: false });
    const right = { ...target, hostKeyFingerprint: host.hostKeyFingerprint };
    expect((await ssh.exec(right, 'test -e ~/pinned-wrong; echo $?')).stdout).toBe('1\n');
    // Each pin got its own login, checked at connect; the unpinned connection was never lent to them.
    expect(connections.map(({ ok, errorCode }) => ({ ok, errorCode }))).toEqual([
      { ok: true, errorCode: undefined },
      { ok: false, errorCode: 'host_key_mismatch' },
      { ok: true, errorCode: undefined },
    ]);
  });

  it('close() closes every pooled connection and fails the calls still on them at once', async () => {
    const other = await startSshHost({ ip: '127.0.20.2', authorizedKeys: [keys.publicKey] });
    try {
      const { ssh, logins } = counted();
      await Promise.all([ssh.exec(target, 'true'), ssh.exec(targetOf(other), 'true')]);
      const running = ssh.exec(target, 'sleep 20', { timeoutMs: 30_000 }).catch((error: unknown) => error);
      expect(await openConnectionsTo(host.ip, host.port)).toBe(1);
      expect(await openConnectionsTo(other.ip, other.port)).toBe(1);
      const started = Date.now();
      await ssh.close();
      expect(await openConnectionsTo(host.ip, host.port)).toBe(0);
      expect(await openConnectionsTo(other.ip, other.port)).toBe(0);
      expect(await running).toMatchObject({ code: 'ssh_connection_lost', message: expect.stringMatching(/SshExecutor.close/) });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(logins()).toBe(2);
      // Still usable afterwards: a new call logs in again.
      expect((await ssh.exec(target, 'echo after')).stdout).toBe('after\n');
      expect(logins()).toBe(3);
    } finally {
      await other.kill();
    }
  });

  it('logs in afresh after sshd was killed and restarted between calls, and still checks the pin', async () => {
    let restarted = await startSshHost({ ip: '127.0.20.3', authorizedKeys: [keys.publicKey] });
    try {
      const { ssh, sessions, logins } = counted();
      const pinnedToOld = { ...targetOf(restarted), hostKeyFingerprint: restarted.hostKeyFingerprint };
      expect((await ssh.exec(targetOf(restarted), 'echo before')).stdout).toBe('before\n');
      expect((await ssh.exec(pinnedToOld, 'echo pinned')).stdout).toBe('pinned\n');
      await restarted.kill();
      restarted = await startSshHost({ ip: '127.0.20.3', authorizedKeys: [keys.publicKey] });
      expect((await ssh.exec(targetOf(restarted), 'echo after')).stdout).toBe('after\n');
      expect(logins()).toBe(3);
      // The new sshd has a new host key: the old pin is refused, not served by a pooled connection.
      await expect(ssh.exec(pinnedToOld, 'true')).rejects.toMatchObject({ code: 'host_key_mismatch' });
      expect(sessions.map((session) => session.ok)).toEqual([true, true, true, false]);
    } finally {
      await restarted.kill();
    }
  });

  describe('through a relay that can kill connections', () => {
    let proxy: TcpProxy;
    let relayed: SshTarget;

    beforeEach(async () => {
      proxy = await startTcpProxy({ ip: '127.0.20.4', port: 2222 }, { ip: host.ip, port: host.port });
      relayed = targetOf(proxy);
    });

    afterEach(async () => {
      await proxy?.close();
    });

    it('runs a call once more on a fresh connection when its pooled one turns out dead before the channel opened', async () => {
      // Long keepalives: the dead connection is found by the call itself, not before it.
      const { ssh, sessions, connections } = counted({ keepaliveIntervalMs: 60_000 });
      expect((await ssh.exec(relayed, 'echo first')).stdout).toBe('first\n');
      proxy.breakSilently();
      expect((await ssh.exec(relayed, 'echo second')).stdout).toBe('second\n');
      await ssh.upload(relayed, 'relayed.txt', 'x');
      expect(connections.map((record) => record.ok)).toEqual([true, true]);
      expect(proxy.accepted()).toBe(2);
      expect(sessions.map(({ ok, kind }) => ({ ok, kind }))).toEqual([
        { ok: true, kind: 'exec' },
        { ok: true, kind: 'exec' },
        { ok: true, kind: 'upload' },
      ]);
    });

    it('does the same for an upload', async () => {
      const { ssh, connections } = counted({ keepaliveIntervalMs: 60_000 });
      expect((await ssh.exec(relayed, 'echo first')).stdout).toBe('first\n');
      proxy.breakSilently();
      await ssh.upload(relayed, 'after-break.txt', 'uploaded\n');
      expect((await ssh.exec(relayed, 'cat after-break.txt')).stdout).toBe('uploaded\n');
      expect(connections.map((record) => record.ok)).toEqual([true, true]);
    });

    it('fails every call in flight on a connection that dies, at once and typed, and never runs them again', async () => {
      const { ssh, connections } = counted();
      await ssh.exec(target, 'rm -f runs.log');
      const calls = [1, 2, 3].map((i) =>
        ssh.exec(relayed, `echo ${i} >> runs.log; sleep 30`, { timeoutMs: 60_000 }).catch((error: unknown) => error),
      );
      await waitFor(async () => (await ssh.exec(target, 'wc -l < runs.log')).stdout.trim() === '3', {
        timeoutMs: 10_000,
        description: 'all three commands to start',
      });
      const started = Date.now();
      proxy.resetAll();
      const errors = await Promise.all(calls);
      expect(Date.now() - started).toBeLessThan(3000);
      for (const error of errors) {
        expect(error).toBeInstanceOf(InfrastructureError);
        expect(error).toMatchObject({ code: 'ssh_connection_lost', retryable: true });
      }
      // One login through the relay: nothing was retried, and each command ran exactly once.
      expect(connections.filter((record) => record.host === proxy.ip)).toHaveLength(1);
      expect((await ssh.exec(target, 'sort runs.log; pkill -x sleep; true')).stdout).toBe('1\n2\n3\n');
    });
  });
});

/**
 * A host that dies or hangs under an operation: the operation settles within seconds, with a
 * retryable host error, whatever it was doing (SFTP included), and never waits for its timeout.
 * The host blocks inside the chosen operation (test-kit's chaos hook) so it is surely in flight.
 */
import { InfrastructureError } from '@inno-train/core';
import { generateSshKeyPair, startSshHost, waitFor, type SshHost } from '@inno-train/test-kit';
import { SshExecutor, type SshTarget } from '../src';

const LONG = 120_000;

describe('SshExecutor on a host that dies or hangs mid-operation', () => {
  const keys = generateSshKeyPair();
  // Fast keepalives so a silent host is noticed in about 4 x 250 ms; the operations' own limits stay long.
  const ssh = new SshExecutor({ keepaliveIntervalMs: 250, keepaliveCountMax: 3 });
  let host: SshHost;
  let target: SshTarget;
  let nextIp = 55;

  beforeEach(async () => {
    host = await startSshHost({ ip: `127.0.0.${nextIp++}`, authorizedKeys: [keys.publicKey], chaos: true });
    target = { host: host.ip, port: host.port, username: 'ubuntu', privateKey: keys.privateKey };
  });

  afterEach(async () => {
    await ssh.close();
    await host?.kill();
  });

  /** Starts `operation`, lets the host reach it and suffer `fault`, and returns how it settled. */
  async function underFault(operation: () => Promise<unknown>, fault: () => Promise<void>) {
    let outcome: { ok: true } | { ok: false; error: unknown } | undefined;
    void operation().then(
      () => {
        outcome = { ok: true };
      },
      (error: unknown) => {
        outcome = { ok: false, error };
      },
    );
    await host.waitForChaos(10_000);
    expect(outcome).toBeUndefined();
    await fault();
    // Far below the operation's own limit (LONG): only the connection's end or silence can settle it.
    return waitFor(() => outcome, { timeoutMs: 10_000, intervalMs: 20, description: 'the operation to settle' });
  }

  it('an upload whose host dies fails at once with ssh_connection_lost', async () => {
    await host.setChaosRule({ kind: 'sftp', nth: 1 });
    const result = await underFault(
      () => ssh.upload(target, '/home/ubuntu/run.sh', 'echo hi\n', 0o700, { timeoutMs: LONG }),
      () => host.kill(),
    );
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ error: { code: 'ssh_connection_lost', retryable: true } });
    expect((result as { error: Error }).error).toBeInstanceOf(InfrastructureError);
    expect((result as { error: Error }).error.message).toMatch(/was lost during upload/);
  });

  it('a command whose host dies fails at once with ssh_connection_lost', async () => {
    await host.setChaosRule({ kind: 'exec', pattern: 'state=poll' });
    const result = await underFault(
      () => ssh.exec(target, 'echo state=poll', { timeoutMs: LONG }),
      () => host.kill(),
    );
    expect(result).toMatchObject({ ok: false, error: { code: 'ssh_connection_lost', retryable: true } });
  });

  it('an upload whose host stops answering fails once its keepalives go unanswered, not at its timeout', async () => {
    await host.setChaosRule({ kind: 'sftp', nth: 1 });
    const result = await underFault(
      () => ssh.upload(target, '/home/ubuntu/run.sh', 'echo hi\n', 0o700, { timeoutMs: LONG }),
      () => host.pause(),
    );
    expect(result).toMatchObject({ ok: false, error: { code: 'ssh_timeout', retryable: true } });
    expect((result as { error: Error }).error.message).toMatch(/stopped answering \(SSH keepalives unanswered\) during upload/);
  });

  it('a command whose host stops answering fails once its keepalives go unanswered', async () => {
    await host.setChaosRule({ kind: 'exec', pattern: 'state=poll' });
    const result = await underFault(
      () => ssh.exec(target, 'echo state=poll', { timeoutMs: LONG }),
      () => host.pause(),
    );
    expect(result).toMatchObject({ ok: false, error: { code: 'ssh_timeout', message: expect.stringMatching(/keepalives unanswered/) } });
  });
});

describe('SshExecutor limits that fit the work', () => {
  it('gives an upload a base limit plus time per byte, and a command seconds, never minutes', () => {
    const ssh = new SshExecutor();
    expect(ssh.uploadTimeoutMs(0)).toBe(15_000);
    expect(ssh.uploadTimeoutMs(4 * 1024)).toBeLessThan(16_000);
    expect(ssh.uploadTimeoutMs(256 * 1024 * 1024)).toBe(15_000 + 1024 * 1000);
    const tuned = new SshExecutor({ uploadBaseTimeoutMs: 1000, uploadMinBytesPerSecond: 1024 });
    expect(tuned.uploadTimeoutMs(10 * 1024)).toBe(11_000);
  });
});

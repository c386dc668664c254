/**
 * Streaming a long-lived command (the live tail of train.log): output arrives while the command
 * runs, on the pooled connection, with no overall limit; an abort ends that channel only, and a host
 * that stops answering ends the stream through the connection's keepalives. Real sshd hosts on
 * 127.0.21.x.
 */
import { InfrastructureError } from '@inno-train/core';
import { generateSshKeyPair, startSshHost, waitFor, type SshHost } from '@inno-train/test-kit';
import { SshExecutor, type SshConnectionRecord, type SshExecutorOptions, type SshTarget } from '../src';

describe('SshExecutor.stream against a real sshd', () => {
  const keys = generateSshKeyPair();
  let host: SshHost;
  let target: SshTarget;
  const executors: SshExecutor[] = [];

  function executor(options: SshExecutorOptions = {}) {
    const connections: SshConnectionRecord[] = [];
    const ssh = new SshExecutor({ ...options, onConnection: (record) => connections.push(record) });
    executors.push(ssh);
    return { ssh, logins: () => connections.filter((record) => record.ok).length };
  }

  /** Collects what a stream hands over, as text. */
  function collector() {
    const seen = { stdout: '', stderr: '' };
    return {
      seen,
      handlers: {
        onStdout: (chunk: Buffer) => (seen.stdout += chunk.toString('utf8')),
        onStderr: (chunk: Buffer) => (seen.stderr += chunk.toString('utf8')),
      },
    };
  }

  beforeAll(async () => {
    host = await startSshHost({ ip: '127.0.21.1', authorizedKeys: [keys.publicKey] });
    target = { host: host.ip, port: host.port, username: 'ubuntu', privateKey: keys.privateKey };
  });

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((ssh) => ssh.close()));
  });

  afterAll(async () => {
    await host?.kill();
  });

  it('hands each line over while the command still runs, on the connection the other calls use', async () => {
    const { ssh, logins } = executor();
    await ssh.exec(target, 'rm -f go1 go2');
    const { seen, handlers } = collector();
    // Each line waits for a file that the test creates only once it has seen the line before it.
    const command =
      'echo one; while [ ! -e go1 ]; do sleep 0.02; done; echo two >&2; echo three; while [ ! -e go2 ]; do sleep 0.02; done; exit 7';
    const done = ssh.stream(target, command, handlers, { label: 'test:stream', signal: new AbortController().signal });
    await waitFor(() => seen.stdout === 'one\n' || undefined, { timeoutMs: 5000, description: 'the first line' });
    await ssh.exec(target, 'touch go1');
    await waitFor(() => (seen.stdout === 'one\nthree\n' && seen.stderr === 'two\n') || undefined, {
      timeoutMs: 5000,
      description: 'the next lines',
    });
    await ssh.exec(target, 'touch go2');
    expect(await done).toEqual({ exitCode: 7 });
    expect(logins()).toBe(1);
  });

  it('runs longer than the command limit: that limit covers opening the channel only', async () => {
    const { ssh } = executor({ commandTimeoutMs: 1000 });
    // Logged in first: the limit then covers the channel's opening only, well within it.
    await ssh.exec(target, 'true', { timeoutMs: 15_000 });
    const { seen, handlers } = collector();
    const started = Date.now();
    const result = await ssh.stream(target, 'for i in $(seq 1 20); do echo $i; sleep 0.1; done', handlers, {
      signal: new AbortController().signal,
    });
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(result).toEqual({ exitCode: 0 });
    expect(seen.stdout).toBe(Array.from({ length: 20 }, (_, i) => `${i + 1}\n`).join(''));
  });

  it('an abort ends that channel and its remote command, and the connection carries on', async () => {
    const { ssh, logins } = executor();
    const { seen, handlers } = collector();
    const controller = new AbortController();
    const done = ssh.stream(target, 'echo $$ > stream.pid; while true; do echo tick; sleep 0.05; done', handlers, {
      signal: controller.signal,
    });
    await waitFor(() => seen.stdout.includes('tick') || undefined, { timeoutMs: 5000, description: 'the stream to run' });
    controller.abort(new Error('enough'));
    await expect(done).rejects.toThrow('enough');
    const pid = (await ssh.exec(target, 'cat stream.pid')).stdout.trim();
    await waitFor(async () => (await ssh.exec(target, `kill -0 ${pid} 2>/dev/null || echo gone`)).stdout === 'gone\n' || undefined, {
      timeoutMs: 5000,
      description: 'the remote loop to be killed',
    });
    expect(logins()).toBe(1);
  });

  it('hands a throwing handler error back and stops the stream', async () => {
    const { ssh } = executor();
    const done = ssh.stream(
      target,
      'while true; do echo tick; sleep 0.05; done',
      {
        onStdout: () => {
          throw new Error('handler failed');
        },
      },
      { signal: new AbortController().signal },
    );
    await expect(done).rejects.toThrow('handler failed');
    expect((await ssh.exec(target, 'echo still')).stdout).toBe('still\n');
  });

  it('ends with a host error within the keepalives when the host stops answering', async () => {
    const silent = await startSshHost({ ip: '127.0.21.2', authorizedKeys: [keys.publicKey] });
    try {
      const { ssh } = executor({ keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
      const { seen, handlers } = collector();
      const done = ssh.stream({ ...target, host: silent.ip, port: silent.port }, 'while true; do echo tick; sleep 0.05; done', handlers, {
        signal: new AbortController().signal,
      });
      done.catch(() => undefined);
      await waitFor(() => seen.stdout.includes('tick') || undefined, { timeoutMs: 5000, description: 'the stream to run' });
      await silent.pause();
      const paused = Date.now();
      const error = await done.then(
        () => null,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(InfrastructureError);
      expect((error as InfrastructureError).retryable).toBe(true);
      expect(Date.now() - paused).toBeLessThan(5000);
    } finally {
      await silent.resume().catch(() => undefined);
      await silent.kill();
    }
  });
});

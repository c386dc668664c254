import { createHash, randomBytes } from 'node:crypto';
import { InfrastructureError } from '@inno-train/core';
import { SshExecutor, shellQuote } from '../src';
import { startFixture, waitForNoConnections, type Fixture } from './helpers';

describe('SshExecutor.upload (SFTP) against a real sshd', () => {
  const ssh = new SshExecutor();
  let fx: Fixture;

  beforeAll(async () => {
    fx = await startFixture('127.0.0.53');
    await ssh.exec(fx.target, 'mkdir -p ~/up');
  });

  afterAll(async () => {
    await ssh.close();
    await fx?.host.kill();
  });

  it('round-trips binary content byte for byte with the requested mode', async () => {
    const content = randomBytes(700_000);
    await ssh.upload(fx.target, '/home/ubuntu/up/blob.bin', content, 0o750);
    const result = await ssh.exec(fx.target, 'sha256sum ~/up/blob.bin | cut -d" " -f1; stat -c %a ~/up/blob.bin; ls -A ~/up');
    expect(result.stdout).toBe(`${createHash('sha256').update(content).digest('hex')}\n750\nblob.bin\n`);
  });

  it('writes strings as UTF-8, defaults to 0644 and replaces an existing file', async () => {
    const path = '/home/ubuntu/up/run script ü.sh';
    await ssh.upload(fx.target, path, 'first version, a longer one\n');
    await ssh.upload(fx.target, path, '#!/bin/sh\necho "ünïcode"\n');
    const result = await ssh.exec(fx.target, `cat ${shellQuote(path)}; stat -c %a ${shellQuote(path)}`);
    expect(result.stdout).toBe('#!/bin/sh\necho "ünïcode"\n644\n');
  });

  it('refuses a missing directory as a non-retryable error and leaves nothing behind', async () => {
    const error = await ssh.upload(fx.target, '/home/ubuntu/nope/file.txt', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'ssh_upload_failed', retryable: false });
  });

  it('never leaves a half file: a failed replace keeps the old target and removes the temp file', async () => {
    await ssh.exec(fx.target, 'mkdir -p ~/up/taken/inside');
    const error = await ssh.upload(fx.target, '/home/ubuntu/up/taken', 'would clobber a directory').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ssh_upload_failed' });
    const listing = await ssh.exec(fx.target, 'ls -A ~/up; test -d ~/up/taken/inside && echo intact');
    expect(listing.stdout).not.toMatch(/upload-/);
    expect(listing.stdout).toContain('intact');
  });

  it('times out like exec, and close() leaves no connection behind', async () => {
    await fx.host.pause();
    try {
      await expect(ssh.upload(fx.target, '/home/ubuntu/up/late.txt', 'x', 0o644, { timeoutMs: 700 })).rejects.toMatchObject({
        code: 'ssh_timeout',
      });
    } finally {
      await fx.host.resume();
    }
    await ssh.close();
    await waitForNoConnections(fx.host.ip, fx.host.port);
  });

  it('rejects nonsense modes before connecting', async () => {
    await expect(ssh.upload(fx.target, '/home/ubuntu/up/x', 'x', 0o17777)).rejects.toThrow(TypeError);
  });
});

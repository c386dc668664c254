import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@inno-train/core';
import { lambdaEnv, loadSshIdentity, parseEnv, redisEnv, s3Env, sshEnv } from '../src';

describe('parseEnv', () => {
  it('applies defaults and treats empty values as unset', () => {
    const env = parseEnv({ ...redisEnv, ...s3Env }, { S3_BUCKET: 'my-bucket', S3_ENDPOINT: '' });
    expect(env).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      INNO_NAMESPACE: 'inno-train',
      S3_REGION: 'us-east-1',
      S3_BUCKET: 'my-bucket',
    });
    expect(env.S3_ENDPOINT).toBeUndefined();
  });

  it('names every missing or malformed variable, without echoing values', () => {
    let error: unknown;
    try {
      parseEnv({ ...redisEnv, ...lambdaEnv, ...sshEnv }, { REDIS_URL: 'http://nope-secret-ish', SSH_PORT: 'abc' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('LAMBDA_API_KEY is required');
    expect(message).toContain('SSH_PRIVATE_KEY_PATH is required');
    expect(message).toContain('REDIS_URL');
    expect(message).toContain('SSH_PORT');
    expect(message).not.toContain('nope-secret-ish');
  });

  it('coerces numbers and booleans', () => {
    const env = parseEnv(
      { ...s3Env, ...sshEnv },
      { S3_BUCKET: 'b-1', S3_FORCE_PATH_STYLE: 'true', SSH_PRIVATE_KEY_PATH: '/k', SSH_PORT: '2222' },
    );
    expect(env.S3_FORCE_PATH_STYLE).toBe(true);
    expect(env.SSH_PORT).toBe(2222);
  });
});

describe('loadSshIdentity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inno-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a private key that only its owner can read', () => {
    const path = join(dir, 'ok');
    writeFileSync(path, 'KEY');
    chmodSync(path, 0o600);
    expect(loadSshIdentity({ SSH_PRIVATE_KEY_PATH: path, SSH_USER: 'ubuntu', SSH_PORT: 22, SSH_KEY_PASSPHRASE: 'pp' })).toEqual({
      username: 'ubuntu',
      port: 22,
      privateKey: 'KEY',
      passphrase: 'pp',
    });
  });

  it('refuses a key readable by group or others, and a missing file, naming the variable', () => {
    const path = join(dir, 'open');
    writeFileSync(path, 'KEY');
    chmodSync(path, 0o644);
    expect(() => loadSshIdentity({ SSH_PRIVATE_KEY_PATH: path, SSH_USER: 'ubuntu', SSH_PORT: 22 })).toThrow(
      /SSH_PRIVATE_KEY_PATH.*chmod 600/,
    );
    expect(() => loadSshIdentity({ SSH_PRIVATE_KEY_PATH: join(dir, 'missing'), SSH_USER: 'ubuntu', SSH_PORT: 22 })).toThrow(
      /SSH_PRIVATE_KEY_PATH: cannot read/,
    );
  });
});

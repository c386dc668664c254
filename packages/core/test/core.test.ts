import { execFileSync, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { backoffDelay, coerceError, createLogger, exportLines, InnoError, isoNow, registerSecret, scrubSecrets, shellQuote } from '../src';

describe('shellQuote', () => {
  const hostile = ["it's", '$(touch /tmp/x)', '`id`', 'a;b', 'new\nline', 'ünïcödé ✓', ' spaced ', '', '--flag', "'\"'", 'x'.repeat(5000)];

  it.each(hostile)('passes %j through bash byte for byte', (value) => {
    const out = execFileSync('bash', ['-c', `printf %s ${shellQuote(value)}`]);
    expect(out.toString('utf8')).toBe(value);
  });

  it('leaves plain words unquoted and refuses NUL', () => {
    expect(shellQuote('inno-train/j123')).toBe('inno-train/j123');
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });

  it('builds export lines only for valid variable names', () => {
    const script = `${exportLines({ A: "x'y", B_2: '$(echo no)' })}\nprintf '%s|%s' "$A" "$B_2"`;
    expect(execFileSync('bash', ['-c', script]).toString()).toBe("x'y|$(echo no)");
    expect(() => exportLines({ 'X;rm': '1' })).toThrow(/Invalid environment variable name/);
  });
});

describe('scrubSecrets', () => {
  it('masks registered secrets, presigned signatures, auth headers and private keys', () => {
    registerSecret('super-secret-value-123');
    const text = [
      'key super-secret-value-123 used',
      'https://s3/b/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=abcdef0123&x=1',
      'Authorization: Bearer abc.def.ghi',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----',
      'aws_secret_access_key=wJalrXUtnFEMI',
    ].join('\n');
    const scrubbed = scrubSecrets(text);
    for (const leaked of ['super-secret-value-123', 'abcdef0123', 'AKIA', 'abc.def.ghi', '\nAAAA\n', 'wJalrXUtnFEMI']) {
      expect(scrubbed).not.toContain(leaked);
    }
    expect(scrubbed).toContain('x=1');
  });

  it('is applied by the logger to messages and to redacted keys', () => {
    registerSecret('logger-secret-999');
    const lines: string[] = [];
    const logger = createLogger({
      name: 't',
      destination: new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }) as never,
    });
    logger.info({ authorization: 'Bearer zzz', nested: { password: 'p4ss' } }, 'using logger-secret-999');
    logger.error({ err: new Error('failed with logger-secret-999') }, 'boom');
    const all = lines.join('');
    expect(all).not.toContain('logger-secret-999');
    expect(all).not.toContain('zzz');
    expect(all).not.toContain('p4ss');
  });
});

describe('small helpers', () => {
  it('coerces anything thrown to an Error', () => {
    expect(coerceError('x').message).toBe('x');
    expect(coerceError({ a: 1 }).message).toBe('{"a":1}');
    const error = new InnoError('code_x', 'm', { retryable: true });
    expect(coerceError(error)).toBe(error);
    expect(error.retryable).toBe(true);
  });

  it('writes ISO 8601 timestamps with an explicit offset', () => {
    expect(isoNow(0)).toBe('1970-01-01T00:00:00.000+00:00');
  });

  it('backs off exponentially with jitter under a cap', () => {
    expect(backoffDelay(0, 1000, 30_000, () => 0)).toBe(500);
    expect(backoffDelay(3, 1000, 30_000, () => 1)).toBe(8000);
    expect(backoffDelay(10, 1000, 30_000, () => 1)).toBe(30_000);
  });
});

describe('crash points', () => {
  const run = (code: string) => spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', cwd: __dirname });
  const load = `const { armCrashPoints, crashPoint } = require(${JSON.stringify(require.resolve('../dist/crash-points'))});`;

  it('does nothing at a point that is not armed', () => {
    const result = run(`${load} armCrashPoints(['other']); crashPoint('here'); console.log('alive');`);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('alive\n');
  });

  it('kills the process with SIGKILL at an armed point, saying which, and runs no line after it', () => {
    const result = run(`${load} armCrashPoints(['here']); crashPoint('here'); console.log('alive');`);
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr.trim())).toMatchObject({ crashPoint: 'here' });
  });
});

import type { ExecOptions, ExecResult, HostExecutor, HostTarget } from '../src';

/** An executor written against the port alone: what a test fake or a new provider looks like. */
class RecordingExecutor implements HostExecutor {
  readonly calls: string[] = [];

  async exec(target: HostTarget, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push(`exec ${target.host} ${command} ${options.label ?? ''}`.trim());
    return {
      stdout: options.stdin?.toString() ?? '',
      stderr: '',
      exitCode: 0,
      signal: null,
      stdoutTruncated: false,
      stderrTruncated: false,
    };
  }

  async upload(target: HostTarget, remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    this.calls.push(`upload ${target.host} ${remotePath} ${mode.toString(8)} ${content.length}`);
  }

  async probe(target: HostTarget): Promise<boolean> {
    return target.host !== 'gone';
  }
}

/** Stage code sees only the interface. */
async function runOn(executor: HostExecutor, target: HostTarget): Promise<string> {
  await executor.upload(target, 'job/run.sh', 'echo hi', 0o700, { label: 'upload' });
  const result = await executor.exec(target, 'cat', { stdin: 'hello', label: 'echo', timeoutMs: 1000, maxOutputBytes: 16 });
  return `${result.stdout} ${String(executor.hostKeyFingerprint?.(target))}`;
}

describe('the host executor port', () => {
  const target: HostTarget = { host: '10.0.0.1', port: 22, username: 'ubuntu', privateKey: Buffer.from('key') };

  it('lets stage code run commands and write files through any implementation, the host key being optional', async () => {
    const executor = new RecordingExecutor();
    expect(await runOn(executor, target)).toBe('hello undefined');
    expect(executor.calls).toEqual(['upload 10.0.0.1 job/run.sh 700 7', 'exec 10.0.0.1 cat echo']);
    expect(await executor.probe({ ...target, host: 'gone' })).toBe(false);
  });
});

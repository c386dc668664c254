import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@inno-train/test-kit';
import { createLocalProvider } from '../src';

const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', USER: 'tester', LANG: 'C.UTF-8' };

/** Running, as opposed to gone or a zombie waiting for a reaper (this machine's init may not reap). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('the local provider', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'inno-local-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('launches an instance that is a folder, runs commands in its home without the service environment, and terminates it', async () => {
    process.env.INNO_TEST_SECRET = 'must-not-leak';
    const provider = createLocalProvider({ rootDir: join(root, 'instances'), baseEnv });
    const { instanceIds } = await provider.api.launch({
      regionName: 'local',
      instanceTypeName: 'gpu_1x_a10',
      name: 'x',
      tags: [{ key: 'inno-train:job', value: 'j1' }],
    });
    const id = instanceIds[0]!;
    const instance = await provider.api.getInstance(id);
    expect(instance).toMatchObject({ status: 'active', tags: [{ key: 'inno-train:job', value: 'j1' }] });
    const target = { host: instance!.ip };
    expect(await provider.executor.probe(target)).toBe(true);

    await provider.executor.exec(target, 'mkdir -p job');
    await provider.executor.upload(target, 'job/hello.sh', 'echo "hi $1"; env', 0o700);
    const result = await provider.executor.exec(target, 'cd job && bash hello.sh "a b"');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('hi a b');
    expect(result.stdout).toContain(`HOME=${join(root, 'instances', id, 'home')}`);
    expect(result.stdout).not.toContain('must-not-leak');
    await expect(provider.executor.upload(target, '../escape.txt', 'x')).rejects.toThrow(/outside/);

    const started = await provider.executor.exec(target, 'cd job && (nohup setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo $!)');
    const pid = Number(started.stdout.trim());
    expect(alive(pid)).toBe(true);

    await provider.api.terminate([id]);
    // SIGKILL was sent; the kernel ends the process when it next runs it.
    await waitFor(() => !alive(pid) || undefined, { timeoutMs: 5000, intervalMs: 10, description: `process ${pid} to die` });
    expect(existsSync(join(root, 'instances', id, 'home'))).toBe(false);
    expect((await provider.api.getInstance(id))?.status).toBe('terminated');
    expect(await provider.api.listInstances()).toHaveLength(0);
    await expect(provider.executor.exec(target, 'true')).rejects.toMatchObject({ code: 'ssh_unreachable' });
    delete process.env.INNO_TEST_SECRET;
  });

  it('runs commands as the SSH executor does: stdin given then closed, none without it, long output cut and flagged', async () => {
    const provider = createLocalProvider({ rootDir: join(root, 'instances'), baseEnv });
    const { instanceIds } = await provider.api.launch({ regionName: 'local', instanceTypeName: 'gpu_1x_a10' });
    const target = { host: (await provider.api.getInstance(instanceIds[0]!))!.ip };

    expect(await provider.executor.exec(target, 'cat; echo " done"', { stdin: 'from stdin', label: 'test:stdin' })).toEqual({
      stdout: 'from stdin done\n',
      stderr: '',
      exitCode: 0,
      signal: null,
      stdoutTruncated: false,
      stderrTruncated: false,
    });
    expect((await provider.executor.exec(target, 'cat; echo eof')).stdout).toBe('eof\n');
    // A command that exits before reading its input is not a failure.
    expect((await provider.executor.exec(target, 'true', { stdin: Buffer.alloc(1024 * 1024) })).exitCode).toBe(0);

    const long = await provider.executor.exec(target, 'head -c 200000 /dev/zero | tr "\\0" x; echo err >&2', { maxOutputBytes: 1000 });
    expect(long.stdoutTruncated).toBe(true);
    expect(long.stdout.length).toBeLessThan(200000);
    expect(long).toMatchObject({ stderr: 'err\n', stderrTruncated: false, exitCode: 0 });
  });

  it('remembers its instances across restarts', async () => {
    const first = createLocalProvider({ rootDir: join(root, 'instances'), baseEnv });
    const { instanceIds } = await first.api.launch({ regionName: 'local', instanceTypeName: 'gpu_1x_a10' });
    const second = createLocalProvider({ rootDir: join(root, 'instances'), baseEnv });
    await second.load();
    expect((await second.api.listInstances()).map((i) => i.id)).toEqual(instanceIds);
  });

  it('lists Lambda instance types at no cost, with capacity locally and in every region', async () => {
    const provider = createLocalProvider({ rootDir: join(root, 'instances'), baseEnv });
    const types = await provider.api.listInstanceTypes();
    expect(types.gpu_1x_a10?.instance_type.price_cents_per_hour).toBe(0);
    expect(types.gpu_1x_a10?.regions_with_capacity_available[0]?.name).toBe('local');
  });
});

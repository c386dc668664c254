/**
 * A stage start in one round trip (install.ts + scripts/install-files.py), run the way sshd runs it:
 * `bash -c` from the home, the files on stdin.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installAndStartCommand, installFilesCommand, jobDir, jobPath, killTaskCommand, taskFiles, taskScriptPath } from '../src';

const JOB = 'j00test0000000000000002';
let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'inno-install-'));
});
afterEach(() => {
  spawnSync('bash', ['-c', killTaskCommand(JOB, 'stage-in', { graceSeconds: 0, wait: true })], {
    cwd: home,
    env: { ...process.env, HOME: home },
  });
  rmSync(home, { recursive: true, force: true });
});

function onHost(command: string, stdin: Buffer) {
  return spawnSync('bash', ['-c', command], { cwd: home, env: { ...process.env, HOME: home }, input: stdin, encoding: 'utf8' });
}

describe('installFilesCommand', () => {
  it('writes every file byte for byte with its mode, names and contents taken as data', () => {
    mkdirSync(join(home, 'd'));
    const hostile = '$(touch canary) `id` \' " ; rm -rf ~ \n\u00e9\u{1F600}';
    const binary = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 31) % 256));
    const { command, stdin } = installFilesCommand([
      { path: `d/${hostile.replace(/\n|\//g, '_')}.txt`, content: hostile, mode: 0o644 },
      { path: 'd/blob.bin', content: binary, mode: 0o700 },
      { path: 'd/empty', content: '', mode: 0o600 },
    ]);
    const run = onHost(command, stdin);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(join(home, 'd', `${hostile.replace(/\n|\//g, '_')}.txt`), 'utf8')).toBe(hostile);
    expect(readFileSync(join(home, 'd', 'blob.bin')).equals(binary)).toBe(true);
    expect(statSync(join(home, 'd', 'blob.bin')).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, 'd', 'empty')).size).toBe(0);
    expect(statSync(join(home, 'd', 'empty')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(home, 'canary'))).toBe(false);
    // No temporary file is left behind.
    expect(readdirSync(join(home, 'd')).filter((name) => name.includes('.install-'))).toEqual([]);
  });

  it('fails, leaving the earlier file in place and no temporary, when the input ends short', () => {
    mkdirSync(join(home, 'd'));
    onHost(installFilesCommand([{ path: 'd/f', content: 'old', mode: 0o644 }]).command, Buffer.from('old'));
    const { command, stdin } = installFilesCommand([{ path: 'd/f', content: 'a much longer new content', mode: 0o644 }]);
    const run = onHost(command, stdin.subarray(0, 5));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('short of d/f');
    expect(readFileSync(join(home, 'd', 'f'), 'utf8')).toBe('old');
    expect(readdirSync(join(home, 'd'))).toEqual(['f']);
  });
});

describe('installAndStartCommand', () => {
  it('creates the layout, writes the files and starts the task in one command, and starts nothing when a write fails', () => {
    const files = [
      { path: taskScriptPath(JOB, 'stage-in'), content: '#!/usr/bin/env bash\necho ran > ran.txt\n', mode: 0o700 },
      { path: jobPath(JOB, 'config.yaml'), content: 'a: 1\n', mode: 0o644 },
    ];
    const start = installAndStartCommand(JOB, 'stage-in', files, { createLayout: true });
    const run = onHost(start.command, start.stdin);
    expect(run.stdout).toBe('started\n');
    expect(readFileSync(join(home, jobPath(JOB, 'config.yaml')), 'utf8')).toBe('a: 1\n');
    const status = join(home, jobDir(JOB), taskFiles('stage-in').status);
    const deadline = Date.now() + 10_000;
    while (!existsSync(status) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
    expect(readFileSync(join(home, jobDir(JOB), 'ran.txt'), 'utf8')).toBe('ran\n');

    // A write that cannot happen (its directory is missing): non-zero, and the start does not run.
    const broken = installAndStartCommand(JOB, 'stage-in', [{ path: jobPath(JOB, 'no/such/dir/x'), content: 'x', mode: 0o644 }]);
    const failed = onHost(broken.command, broken.stdin);
    expect(failed.status).not.toBe(0);
    expect(failed.stdout).not.toContain('started');
    // Its reset ran (the status is gone) but no new run started: nothing wrote a new status.
    expect(existsSync(status)).toBe(false);
  });

  it('with reset: false keeps an ended task ended (a rerun of training start is a no-op)', () => {
    const script = { path: taskScriptPath(JOB, 'stage-in'), content: '#!/usr/bin/env bash\necho x >> runs.txt\n', mode: 0o700 };
    const first = installAndStartCommand(JOB, 'stage-in', [script], { createLayout: true });
    expect(onHost(first.command, first.stdin).stdout).toBe('started\n');
    const status = join(home, jobDir(JOB), taskFiles('stage-in').status);
    const deadline = Date.now() + 10_000;
    while (!existsSync(status) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
    expect(existsSync(status)).toBe(true);
    const again = installAndStartCommand(JOB, 'stage-in', [script], { reset: false });
    expect(onHost(again.command, again.stdin).stdout).toBe('started\n');
    expect(existsSync(status)).toBe(true);
    expect(readFileSync(join(home, jobDir(JOB), 'runs.txt'), 'utf8')).toBe('x\n');
  });
});

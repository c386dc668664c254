import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InnoError } from '@inno-train/core';
import {
  listStageOutCommand,
  parseListOutputs,
  parseStageOutListing,
  renderListOutputsCommand,
  renderStageInScript,
  renderStageOutScript,
} from '../src';
import { engineSource } from '../src/transfer/engine';
import { planOf } from './plan-of';

const URL_A = 'http://127.0.0.1:9/b/k?X-Amz-Signature=0123abcd&X-Amz-Credential=AKIA%2F1';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof InnoError ? err.code : `not an InnoError: ${String(err)}`;
  }
  return undefined;
}

function stageIn(relPath: string, extra: Partial<Parameters<typeof renderStageInScript>[0]> = {}): string {
  return renderStageInScript({
    jobDir: '/tmp/j',
    statusFile: 's.json',
    connections: 2,
    files: [{ url: URL_A, relPath, size: 1 }],
    ...extra,
  });
}

function bashSyntaxOk(script: string): boolean {
  return spawnSync('bash', ['-n'], { input: script }).status === 0;
}

describe('plan validation', () => {
  it.each([
    ['/etc/passwd', 'absolute'],
    ['../escape', 'leading ..'],
    ['inputs/../../escape', 'inner ..'],
    ['inputs/..', 'trailing ..'],
    ['inputs/./x', '. segment'],
    ['inputs//x', 'empty segment'],
    ['inputs/x/', 'trailing slash'],
    ['', 'empty'],
    ['a\0b', 'NUL'],
    [`inputs/${'n'.repeat(256)}`, 'name too long'],
  ])('rejects relPath %j (%s)', (relPath) => {
    expect(codeOf(() => stageIn(relPath))).toBe('invalid_transfer_plan');
    expect(
      codeOf(() =>
        renderStageOutScript({ jobDir: '/j', statusFile: 's', connections: 1, uploads: [{ kind: 'put', relPath, url: URL_A }] }),
      ),
    ).toBe('invalid_transfer_plan');
  });

  it('rejects duplicate targets and a file that is also a directory', () => {
    const file = { url: URL_A, size: 1 };
    expect(
      codeOf(() =>
        stageIn('a', {
          files: [
            { ...file, relPath: 'x/y' },
            { ...file, relPath: 'x/y' },
          ],
        }),
      ),
    ).toBe('invalid_transfer_plan');
    expect(
      codeOf(() =>
        stageIn('a', {
          files: [
            { ...file, relPath: 'x' },
            { ...file, relPath: 'x/y' },
          ],
        }),
      ),
    ).toBe('invalid_transfer_plan');
  });

  it('rejects bad URLs without echoing them, and bad numbers', () => {
    for (const url of ['file:///etc/passwd', '-o /tmp/x', 'http://h/a b', 'http://h/a\nb', 'ftp://h/x']) {
      let message = '';
      try {
        stageIn('a', { files: [{ url, relPath: 'a', size: 1 }] });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/http\(s\) URL/);
      expect(message).not.toContain(url);
    }
    expect(codeOf(() => stageIn('a', { files: [{ url: URL_A, relPath: 'a', size: -1 }] }))).toBe('invalid_transfer_plan');
    expect(codeOf(() => stageIn('a', { connections: 0 }))).toBe('invalid_transfer_plan');
    expect(codeOf(() => stageIn('a', { jobDir: '/home/u/../x' }))).toBe('invalid_transfer_plan');
  });

  it('rejects multipart plans whose parts are not exactly 1..n', () => {
    const base = { jobDir: '/j', statusFile: 's', connections: 1 };
    const render = (parts: { partNumber: number; url: string }[], partSize = 5) =>
      codeOf(() => renderStageOutScript({ ...base, uploads: [{ kind: 'multipart', relPath: 'output/x', partSize, parts }] }));
    expect(render([])).toBe('invalid_transfer_plan');
    expect(render([{ partNumber: 2, url: URL_A }])).toBe('invalid_transfer_plan');
    expect(
      render([
        { partNumber: 1, url: URL_A },
        { partNumber: 1, url: URL_A },
      ]),
    ).toBe('invalid_transfer_plan');
    expect(render([{ partNumber: 1, url: URL_A }], 0)).toBe('invalid_transfer_plan');
    expect(
      render([
        { partNumber: 2, url: URL_A },
        { partNumber: 1, url: URL_A },
      ]),
    ).toBeUndefined();
  });
});

describe('rendered scripts', () => {
  const hostile = ['it\'s $(touch x) `y` "z"\nnext line ü.txt', '-n', '%s%n'];

  it('are valid bash, quote every value, and carry each URL only in the URL array', () => {
    const files = hostile.map((name, i) => ({ url: `${URL_A}&n=${i}`, relPath: `inputs/${name}`, size: i }));
    const script = renderStageInScript({ jobDir: "inno-train/j'1", statusFile: '.inno/status', connections: 3, files });
    expect(bashSyntaxOk(script)).toBe(true);
    // Each URL once, inside the plan; the plan bash hands over is the one rendered, names intact.
    expect(script.split(URL_A).length - 1).toBe(files.length);
    const plan = planOf(script);
    expect(plan.files?.map((file) => file.relPath)).toEqual(files.map((file) => file.relPath));
    expect(plan.files?.map((file) => file.url)).toEqual(files.map((file) => file.url));

    const out = renderStageOutScript({
      jobDir: '/j',
      statusFile: 's',
      connections: 2,
      uploads: [
        { kind: 'put', relPath: `output/${hostile[0]}`, url: URL_A },
        { kind: 'multipart', relPath: 'output/-n', partSize: 5, parts: [{ partNumber: 1, url: URL_A }] },
      ],
    });
    expect(bashSyntaxOk(out)).toBe(true);
  });

  it('carry the engine as one argument Linux takes (under 128 KiB), one program from its three parts', () => {
    const engine = engineSource();
    expect(Buffer.byteLength(engine)).toBeLessThan(128 * 1024);
    const parsed = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: engine });
    expect(parsed.status).toBe(0);
    expect(planOf(renderStageInScript({ jobDir: '/j', statusFile: 's', connections: 1, files: [] })).mode).toBe('stage-in');
  });

  it('render an empty plan that succeeds', () => {
    expect(bashSyntaxOk(renderStageInScript({ jobDir: '/j', statusFile: 's', connections: 1, files: [] }))).toBe(true);
    expect(bashSyntaxOk(renderStageOutScript({ jobDir: '/j', statusFile: 's', connections: 1, uploads: [] }))).toBe(true);
  });
});

describe('output listing', () => {
  it('lists regular files NUL-safely, skipping symlinks, and nothing for a missing directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'list-outputs-'));
    try {
      const out = join(root, 'job', 'output');
      mkdirSync(join(out, 'sub dir', 'deeper'), { recursive: true });
      const names = ['plain.txt', 'sub dir/with\nnewline.bin', 'sub dir/deeper/tab\there ü.txt', "quote'$(x).txt"];
      names.forEach((name, i) => writeFileSync(join(out, name), 'x'.repeat(i * 10)));
      symlinkSync('/etc/passwd', join(out, 'link-to-passwd'));
      const run = (dir: string) => spawnSync('bash', ['-c', renderListOutputsCommand(dir)], { cwd: root });
      const listed = parseListOutputs(run('job/output').stdout);
      expect(listed.sort((a, b) => a.relPath.localeCompare(b.relPath))).toEqual(
        names.map((relPath, i) => ({ relPath, size: i * 10 })).sort((a, b) => a.relPath.localeCompare(b.relPath)),
      );
      expect(parseListOutputs(run(out).stdout)).toHaveLength(names.length);
      const missing = run('job/nothing');
      expect(missing.status).toBe(0);
      expect(parseListOutputs(missing.stdout)).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("stage-out's listing gives train.log's size first (not a symlink, not when missing), then the outputs", () => {
    const root = mkdtempSync(join(tmpdir(), 'list-stage-out-'));
    try {
      const job = join(root, 'inno-train', 'j1');
      mkdirSync(join(job, 'output'), { recursive: true });
      writeFileSync(join(job, 'output', 'train.log'), 'an output named like the log');
      const run = () => spawnSync('bash', ['-c', listStageOutCommand('j1')], { cwd: root });
      let listed = run();
      expect(listed.status).toBe(0);
      expect(parseStageOutListing(listed.stdout)).toEqual({ outputs: [{ relPath: 'train.log', size: 28 }], logSize: null });
      symlinkSync('/etc/passwd', join(job, 'train.log'));
      expect(parseStageOutListing(run().stdout).logSize).toBeNull();
      rmSync(join(job, 'train.log'));
      writeFileSync(join(job, 'train.log'), 'y'.repeat(12345));
      listed = run();
      expect(listed.status).toBe(0);
      expect(parseStageOutListing(listed.stdout)).toEqual({ outputs: [{ relPath: 'train.log', size: 28 }], logSize: 12345 });
      rmSync(join(job, 'output'), { recursive: true });
      expect(parseStageOutListing(run().stdout)).toEqual({ outputs: [], logSize: 12345 });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses a malformed train.log record in stage-out's listing", () => {
    expect(parseStageOutListing('log\t7\0' + '3\ta\0')).toEqual({ outputs: [{ relPath: 'a', size: 3 }], logSize: 7 });
    expect(codeOf(() => parseStageOutListing('log\tx\0'))).toBe('invalid_listing');
    expect(codeOf(() => parseStageOutListing('log\t12'))).toBe('invalid_listing');
  });

  it('parses edge cases and refuses malformed records', () => {
    expect(parseListOutputs('')).toEqual([]);
    expect(parseListOutputs('0\ta\tb\0')).toEqual([{ relPath: 'a\tb', size: 0 }]);
    expect(codeOf(() => parseListOutputs('12\tpartial'))).toBe('invalid_listing');
    expect(codeOf(() => parseListOutputs('x\ta\0'))).toBe('invalid_listing');
    expect(codeOf(() => parseListOutputs('1\t../a\0'))).toBe('invalid_listing');
  });
});

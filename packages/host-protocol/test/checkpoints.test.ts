import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointResultFile,
  listCheckpointsCommand,
  parseCheckpointListing,
  parseCheckpointResult,
  readCheckpointResultCommand,
  renderCheckpointSyncScript,
  startCheckpointSyncCommand,
} from '../src';
import { planOf } from './plan-of';

const JOB = 'j0000000000000000000001';

describe('checkpoint host commands', () => {
  it('render the job directory and result file as quoted data', () => {
    const list = listCheckpointsCommand(JOB, 'abc123');
    expect(list).toContain(`MODE=list`);
    expect(list).toContain(`JOB_DIR=inno-train/${JOB}`);
    expect(list).toContain(`RESULT_FILE=.inno/checkpoint-sync.abc123.result`);
    expect(startCheckpointSyncCommand(JOB)).toContain('MODE=start');
    expect(() => checkpointResultFile('$(reboot)')).toThrow(/run id/);
  });

  it('put every checkpoint path under checkpoints/ as quoted data, never as code', () => {
    const evil = "step-1/$(touch pwned)'; rm -rf ~ #\n.bin";
    const script = renderCheckpointSyncScript(JOB, 'r1', [{ path: evil, url: 'http://127.0.0.1:9/b/k?X-Amz-Signature=s' }], 4);
    expect(planOf(script).uploads?.map((upload) => upload.relPath)).toEqual([`checkpoints/${evil}`]);
    expect(script).toContain('RESULT_FILE=.inno/checkpoint-sync.r1.result');
    expect(() => renderCheckpointSyncScript(JOB, 'r1', [{ path: '../escape', url: 'http://x/y' }], 4)).toThrow(/segment/);
  });

  it('list a real directory: names with spaces and newlines, the marker, hidden entries, file entries', () => {
    const home = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const dir = join(home, 'inno-train', JOB, 'checkpoints');
    mkdirSync(join(dir, 'step 1\nx', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'step 1\nx', 'sub', 'w.bin'), 'abc');
    writeFileSync(join(dir, 'step 1\nx', '.complete'), '');
    mkdirSync(join(dir, '.tmp-step-2'));
    writeFileSync(join(dir, '.tmp-step-2', 'w.bin'), 'x');
    writeFileSync(join(dir, 'last.pt'), '12345');
    const stdout = execFileSync('bash', ['-c', listCheckpointsCommand(JOB, 'none')], { cwd: home, env: { ...process.env, HOME: home } });
    const listing = parseCheckpointListing(stdout);
    expect(listing.sync).toBe('none');
    expect(Math.abs(listing.now - Date.now())).toBeLessThan(10_000);
    expect(
      listing.entries.map((e) => ({ name: e.name, kind: e.kind, marker: e.marker, files: e.files.map((f) => [f.path, f.size]) })),
    ).toEqual([
      { name: 'last.pt', kind: 'file', marker: false, files: [['last.pt', 5]] },
      { name: 'step 1\nx', kind: 'dir', marker: true, files: [['sub/w.bin', 3]] },
    ]);
  });

  it('refuse a malformed listing', () => {
    expect(() => parseCheckpointListing('garbage')).toThrow(/Malformed/);
    expect(() => parseCheckpointListing('now=1\nsync=none\n--\nf\t1\t2\tname')).toThrow(/middle of a record/);
  });

  it('render a file over one part as presigned UploadPart items of transfer.sh, beside the single PUTs', () => {
    const script = renderCheckpointSyncScript(
      JOB,
      'r2',
      [
        {
          path: 'step-2/model.pt',
          partSize: 8,
          parts: [2, 1, 3].map((n) => ({ partNumber: n, url: `http://127.0.0.1:9/b/k?partNumber=${n}` })),
        },
        { path: 'step-2/meta.json', url: 'http://127.0.0.1:9/b/m' },
      ],
      4,
    );
    expect(script).toContain('MODE=stage-out');
    expect(script).toContain('RESULT_FILE=.inno/checkpoint-sync.r2.result');
    // The three parts of file 0 in part order, then file 1 as one PUT.
    const plan = planOf(script);
    expect(plan.connections).toBe(4);
    expect(plan.uploads?.map((upload) => [upload.kind, upload.partSize, upload.parts?.map((part) => part.partNumber)])).toEqual([
      ['multipart', 8, [1, 2, 3]],
      ['put', undefined, undefined],
    ]);
    expect(() =>
      renderCheckpointSyncScript(JOB, 'r2', [{ path: 'a.pt', partSize: 8, parts: [{ partNumber: 2, url: 'http://127.0.0.1:9/b/k' }] }], 4),
    ).toThrow(/numbered 1 to 1/);
  });

  it("read back the run's result file from a real directory, and nothing when there is none", () => {
    const home = mkdtempSync(join(tmpdir(), 'ckpt-result-'));
    mkdirSync(join(home, 'inno-train', JOB, '.inno'), { recursive: true });
    const read = (runId: string) =>
      execFileSync('bash', ['-c', readCheckpointResultCommand(JOB, runId)], { cwd: home, env: { ...process.env, HOME: home } });
    expect(parseCheckpointResult(read('r3'))).toBeNull();
    const result = { ok: true, failed: [], bytes: 20, parts: { 'checkpoints/step-3/model.pt': [{ partNumber: 1, etag: '"abc"' }] } };
    writeFileSync(join(home, 'inno-train', JOB, checkpointResultFile('r3')), `${JSON.stringify(result)}\n`);
    expect(parseCheckpointResult(read('r3'))).toEqual(result);
    expect(parseCheckpointResult(read('r4'))).toBeNull();
  });

  it('refuse a result that is not one', () => {
    expect(() => parseCheckpointResult('{"ok":tr')).toThrow(/not JSON/);
    expect(() => parseCheckpointResult('{"ok":true}')).toThrow(/Malformed checkpoint upload result/);
  });
});

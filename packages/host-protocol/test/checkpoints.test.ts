import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointResultFile,
  listCheckpointsCommand,
  parseCheckpointListing,
  renderCheckpointSyncScript,
  startCheckpointSyncCommand,
} from '../src';

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
    expect(script).toContain(`'checkpoints/step-1/$(touch pwned)'\\''; rm -rf ~ #\n.bin'`);
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
});

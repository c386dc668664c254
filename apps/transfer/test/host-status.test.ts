import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTaskCommand, jobDir, parseTaskCheck, stageInResultSchema, stageOutResultSchema, taskFiles } from '@inno-train/host-protocol';
import { transferState } from '../src/host-status';

const JOB = 'j00test0000000000000001';

describe('what a transfer stage sees of its task on the host', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'inno-status-'));
    mkdirSync(join(home, jobDir(JOB), '.inno'), { recursive: true });
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const writeStatus = (task: 'stage-in' | 'stage-out', text: string) =>
    writeFileSync(join(home, jobDir(JOB), taskFiles(task).status), text);
  const stageIn = () =>
    transferState(
      parseTaskCheck(
        'stage-in',
        execFileSync('bash', ['-c', checkTaskCommand(JOB, 'stage-in')], { cwd: home }).toString(),
        stageInResultSchema,
      ),
    );

  it('reads the transfer status a script left, and says not_running for one that never wrote one', () => {
    expect(stageIn()).toEqual({ state: 'not_running' });
    writeStatus('stage-in', '{"exitCode":0,"result":{"ok":true,"failed":[],"bytes":3,"skipped":1}}\n');
    expect(stageIn()).toEqual({ state: 'done', status: { ok: true, failed: [], bytes: 3, skipped: 1 } });
  });

  it('starts again a script that ended without a result, and one whose job directory is gone', () => {
    writeStatus('stage-in', '{"exitCode":2,"result":null}\n');
    expect(stageIn()).toEqual({ state: 'not_running' });
    rmSync(join(home, jobDir(JOB)), { recursive: true });
    expect(stageIn()).toEqual({ state: 'not_running' });
  });

  it('refuses a result that is not what the transfer script writes, instead of trusting it', () => {
    writeStatus('stage-in', '{"exitCode":0,"result":{"ok":"yes","failed":[],"bytes":0,"skipped":0}}\n');
    expect(stageIn).toThrow(/malformed/);
    writeStatus('stage-in', '{"exitCode":0,"result":{"ok":tr}\n');
    expect(stageIn).toThrow(/not JSON/);
    const stageOut = transferState(
      parseTaskCheck(
        'stage-out',
        'state=done {"exitCode":0,"result":{"ok":true,"failed":[],"bytes":0,"parts":{"output/x":[{"partNumber":1,"etag":"\\"e\\""}]}}}\n',
        stageOutResultSchema,
      ),
    );
    expect(stageOut).toEqual({
      state: 'done',
      status: { ok: true, failed: [], bytes: 0, parts: { 'output/x': [{ partNumber: 1, etag: '"e"' }] } },
    });
    expect(() =>
      parseTaskCheck(
        'stage-out',
        'state=done {"exitCode":0,"result":{"ok":true,"failed":[],"bytes":0,"parts":{"output/x":[{"partNumber":0,"etag":""}]}}}\n',
        stageOutResultSchema,
      ),
    ).toThrow(/malformed/);
  });

  it('says running while the runner holds the lock', () => {
    expect(
      transferState(
        parseTaskCheck(
          'stage-in',
          execFileSync('bash', ['-c', `flock() { return 75; }\n${checkTaskCommand(JOB, 'stage-in')}`], { cwd: home }).toString(),
          stageInResultSchema,
        ),
      ),
    ).toEqual({ state: 'running' });
  });
});

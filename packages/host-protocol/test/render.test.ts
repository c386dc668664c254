import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { renderScript, scriptSource, SCRIPTS_DIR, type ScriptName } from '../src';

const SCRIPTS = readdirSync(SCRIPTS_DIR).filter((name) => /\.(sh|py)$/.test(name)) as ScriptName[];

/** The file's lines outside its data block, and the block's lines. */
function split(text: string): { outside: string[]; block: string[] } {
  const lines = text.split('\n');
  const begin = lines.findIndex((line) => line.startsWith('# ---- data'));
  const end = lines.indexOf('# ---- end of data ----');
  return { outside: [...lines.slice(0, begin), ...lines.slice(end + 1)], block: lines.slice(begin, end + 1) };
}

describe('host scripts as files', () => {
  it('ships every script in the package and each one parses', () => {
    expect(SCRIPTS.sort()).toEqual([
      'check-task.sh',
      'checkpoints.sh',
      'install-files.py',
      'kill-task.sh',
      'run-task.sh',
      'start-task.sh',
      'tail-log.sh',
      'train-wrapper.sh',
      'transfer-in.py',
      'transfer-out.py',
      'transfer.py',
      'transfer.sh',
      'wait-task.sh',
    ]);
    for (const name of SCRIPTS) {
      const check = name.endsWith('.py')
        ? spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: scriptSource(name) })
        : spawnSync('bash', ['-n'], { input: scriptSource(name) });
      expect({ name, status: check.status, stderr: check.stderr.toString() }).toEqual({ name, status: 0, stderr: '' });
    }
  });

  it('renders by replacing the data block only: the rest of the file is sent as it is', () => {
    const rendered = renderScript(
      'kill-task.sh',
      { INNO_JOB_DIR: "dir with 'quote'", INNO_TASK: 'train', INNO_GRACE_SECONDS: 3, INNO_WAIT: 'no' },
      { label: 'train' },
    );
    expect(split(rendered).outside).toEqual(split(scriptSource('kill-task.sh')).outside);
    expect(split(rendered).block).toEqual([
      '# ---- data of kill-task.sh for train ----',
      `INNO_JOB_DIR='dir with '\\''quote'\\'''`,
      'INNO_TASK=train',
      'INNO_GRACE_SECONDS=3',
      'INNO_WAIT=no',
      '# ---- end of data ----',
    ]);
  });

  it('writes arrays one quoted value a line, and exports after the named values', () => {
    const rendered = renderScript(
      'train-wrapper.sh',
      {
        INNO_JOB_DIR: 'd',
        INNO_JOB_ID: 'j',
        INNO_INPUT_VARS: [],
        INNO_INPUT_PATHS: ['a b', 'c\nd'],
        INNO_COMMAND: 'true',
        INNO_RESUME_FROM: '',
      },
      { label: 'train', exports: { K: 'v w' } },
    );
    expect(split(rendered).block.slice(3, 10)).toEqual([
      'INNO_INPUT_VARS=()',
      'INNO_INPUT_PATHS=(',
      "  'a b'",
      "  'c",
      "d'",
      ')',
      'INNO_COMMAND=true',
    ]);
    expect(rendered).toContain("\nexport K='v w'\n# ---- end of data ----\n");
  });

  it('refuses data that does not match the block, a NUL, and numbers that are not whole', () => {
    const base = { INNO_JOB_DIR: 'd', INNO_TASK: 'train', INNO_GRACE_SECONDS: 1, INNO_WAIT: 'no' };
    expect(() => renderScript('kill-task.sh', { ...base, EXTRA: 'x' }, { label: 't' })).toThrow(/unknown: EXTRA/);
    const { INNO_WAIT: _, ...missing } = base;
    expect(() => renderScript('kill-task.sh', missing, { label: 't' })).toThrow(/missing: INNO_WAIT/);
    expect(() => renderScript('kill-task.sh', { ...base, INNO_JOB_DIR: 'a\0b' }, { label: 't' })).toThrow(/NUL/);
    expect(() => renderScript('kill-task.sh', { ...base, INNO_GRACE_SECONDS: 1.5 }, { label: 't' })).toThrow(/whole numbers/);
  });
});

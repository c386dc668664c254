import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transferStatusSchema } from '../src/decide';
import { checkDetached, parseDetached } from '../src/host-status';

describe('checking a detached transfer script', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'inno-status-'));
    mkdirSync(join(home, 'job', '.inno'), { recursive: true });
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  /** Runs the check as the host would, with `prelude` first (to stand in for what happens meanwhile). */
  const check = (prelude = '') => parseDetached(execFileSync('bash', ['-c', `${prelude}\n${checkDetached('job', '.inno/s.status', '.inno/s.lock')}`], { cwd: home }).toString(), transferStatusSchema);

  it('reads the status of a script that ended, and says not_running for one that never wrote one', () => {
    expect(check()).toEqual({ state: 'not_running' });
    writeFileSync(join(home, 'job', '.inno', 's.status'), '{"ok":true}');
    expect(check()).toEqual({ state: 'done', status: { ok: true } });
  });

  it('sees the status of a script that ended between looking at the lock and at the status file', () => {
    // `flock` stands in for the script finishing just then: it writes its status, releases the lock.
    const finishing = `flock() { printf '{"ok":true}' > .inno/s.status; command flock "$@"; }`;
    expect(check(finishing)).toEqual({ state: 'done', status: { ok: true } });
  });

  it('refuses a status file that is not what a transfer script writes, instead of trusting it', () => {
    writeFileSync(join(home, 'job', '.inno', 's.status'), '{"ok":"yes"}');
    expect(() => check()).toThrow(/malformed/);
    writeFileSync(join(home, 'job', '.inno', 's.status'), '{"ok":tr');
    expect(() => check()).toThrow(/not JSON/);
  });

  it('says running while another process holds the lock', () => {
    expect(check('flock() { return 1; }')).toEqual({ state: 'running' });
  });
});

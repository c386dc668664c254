/**
 * Host chaos: an SSH host started with `chaos: true` runs every session through
 * scripts/chaos-hook.sh (sshd's ForceCommand). A test sets a rule naming one SSH operation; the
 * session that performs it blocks inside the host instead of running, and tells the test so. The
 * test then kills or pauses the host knowing the client's operation is in flight, which no timing
 * guess can guarantee.
 *
 * Operations are recognised on the host side, by the command sshd was asked to run, so this works
 * for any SSH client the code under test uses.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait-for';

const execFileAsync = promisify(execFile);

/**
 * Which session blocks. Counting starts when the rule is set, and a rule fires at most once.
 * - `exec`: the nth (1-based, default 1) exec session whose command matches the POSIX ERE
 *   `pattern` (grep -E; a multi-line command matches when any line does).
 * - `sftp`: the nth SFTP session (ssh2's `client.sftp()`, OpenSSH's sftp/scp).
 */
export type ChaosRule = { kind: 'exec'; pattern: string; nth?: number } | { kind: 'sftp'; nth: number };

/** The chaos half of SshHost; on a host without `chaos: true` every member throws. */
export interface ChaosControls {
  /** Replaces the rule (null: none) and restarts counting; the next session reads it. */
  setChaosRule(rule: ChaosRule | null): Promise<void>;
  /** True once a session has triggered the current rule and is blocked. */
  chaosFired(): boolean;
  /** Resolves once `chaosFired()` is true; rejects at the deadline. */
  waitForChaos(timeoutMs: number): Promise<void>;
}

/**
 * Not under /tmp or the home (each instance mounts its own over them) and not in the root-only
 * state dir: the ssh user must run the hook and write its counters here.
 */
const CHAOS_ROOT = '/run/inno-test-kit-chaos';
const HOOK_SOURCE = join(__dirname, '..', 'scripts', 'chaos-hook.sh');

/** One host's chaos directory: the hook, the rule file and the ssh user's `state/` subdirectory. */
export class HostChaos {
  private generation = 0;

  private constructor(
    readonly dir: string,
    private readonly label: string,
  ) {}

  /** Makes the directory for a host whose sessions run as `user`; `label` names it in errors. */
  static async prepare(user: string, label: string): Promise<HostChaos> {
    await mkdir(CHAOS_ROOT, { recursive: true });
    await chmod(CHAOS_ROOT, 0o755);
    const dir = await mkdtemp(join(CHAOS_ROOT, 'host-'));
    try {
      // mkdtemp makes it 0700; the ssh user has to reach the hook and state/.
      await chmod(dir, 0o755);
      const hook = join(dir, 'chaos-hook.sh');
      await copyFile(HOOK_SOURCE, hook);
      await chmod(hook, 0o755);
      const state = join(dir, 'state');
      await mkdir(state);
      await chmod(state, 0o755);
      const [uid, gid] = await Promise.all([idOf(user, '-u'), idOf(user, '-g')]);
      await chown(state, uid, gid);
      return new HostChaos(dir, label);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** What sshd's ForceCommand must run. */
  get hookPath(): string {
    return join(this.dir, 'chaos-hook.sh');
  }

  async setRule(rule: ChaosRule | null): Promise<void> {
    const generation = this.generation + 1;
    const text = rule === null ? undefined : await ruleText(rule, generation);
    this.generation = generation;
    const ruleFile = join(this.dir, 'rule');
    if (text === undefined) {
      await rm(ruleFile, { force: true });
    } else {
      // Renamed into place: a session starting meanwhile reads the old rule or the new one, whole.
      await writeFile(`${ruleFile}.tmp`, text, { mode: 0o644 });
      await chmod(`${ruleFile}.tmp`, 0o644);
      await rename(`${ruleFile}.tmp`, ruleFile);
    }
    // Counters and markers are per generation, so a session still counting under the old rule
    // cannot fire the new one; removing the old files only keeps the directory small.
    const state = join(this.dir, 'state');
    const stale = (await readdir(state)).filter((name) => {
      const match = /^(?:count|fired)-(\d+)/.exec(name);
      return match !== null && Number(match[1]) !== generation;
    });
    await Promise.all(stale.map((name) => rm(join(state, name), { force: true })));
  }

  fired(): boolean {
    return this.generation > 0 && existsSync(join(this.dir, 'state', `fired-${this.generation}`));
  }

  async waitUntilFired(timeoutMs: number): Promise<void> {
    await waitFor(() => this.fired(), {
      timeoutMs,
      intervalMs: 10,
      description: `a session on SSH host ${this.label} to trigger its chaos rule`,
    });
  }
}

/** The SshHost members for `chaos` (undefined: the host was started without `chaos: true`). */
export function chaosControls(chaos: HostChaos | undefined, label: string): ChaosControls {
  const required = (): HostChaos => {
    if (chaos) return chaos;
    throw new Error(`SSH host ${label} was started without \`chaos: true\`; it has no chaos hook`);
  };
  return {
    setChaosRule: async (rule) => required().setRule(rule),
    chaosFired: () => required().fired(),
    waitForChaos: async (timeoutMs) => required().waitUntilFired(timeoutMs),
  };
}

/** The rule file the hook reads: generation, kind, nth, pattern, one a line. */
async function ruleText(rule: ChaosRule, generation: number): Promise<string> {
  const nth = rule.nth ?? 1;
  if (!Number.isSafeInteger(nth) || nth < 1) throw new Error(`Chaos rule nth must be a positive integer, got ${nth}`);
  if (rule.kind !== 'exec' && rule.kind !== 'sftp') throw new Error(`Unknown chaos rule kind: ${String((rule as { kind: unknown }).kind)}`);
  const pattern = rule.kind === 'exec' ? rule.pattern : '';
  if (rule.kind === 'exec') await checkPattern(pattern);
  return `${generation}\n${rule.kind}\n${nth}\n${pattern}\n`;
}

/** An invalid ERE would make the hook's grep fail on every session, so the rule would never fire. */
async function checkPattern(pattern: string): Promise<void> {
  if (pattern.includes('\n')) throw new Error('A chaos rule pattern must be a single line');
  try {
    await execFileAsync('grep', ['-Eq', '-e', pattern, '/dev/null']);
  } catch (error) {
    // Exit 1 only says /dev/null did not match; 2 is grep rejecting the pattern.
    if ((error as { code?: unknown }).code !== 1) {
      throw new Error(
        `Invalid chaos rule pattern ${JSON.stringify(pattern)}: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}`,
      );
    }
  }
}

async function idOf(user: string, flag: '-u' | '-g'): Promise<number> {
  const { stdout } = await execFileAsync('id', [flag, user]);
  return Number(stdout.trim());
}

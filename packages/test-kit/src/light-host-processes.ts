/**
 * The processes of one light host instance (light-host.ts), found by user id: every command of an
 * instance runs as a uid of its own (no /etc/passwd entry needed; we are root), so whatever its
 * scripts start — `nohup setsid` runners, double forks, anything that leaves the session and
 * process group of the command — still belongs to that uid. Killing the instance is then "SIGKILL
 * every process owned by the uid, until none is left", with no cgroup and no namespace.
 *
 * A /proc/<pid> directory is owned by the process's effective uid (for the dumpable processes our
 * commands are: the uid is set before exec, not by a setuid binary), so one stat per process tells.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { waitFor } from './wait-for';

/** First uid handed to light host instances; far above any real account and below uid_t's limits. */
const UID_BASE = 1_900_000_000;

/** A uid (and gid) of the instance's own, derived from its loopback address, which is unique while it listens. */
export function instanceUid(ip: string): number {
  const octets = ip.split('.').map(Number);
  if (octets.length !== 4 || octets[0] !== 127 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new Error(`A light host needs a 127.x.y.z address, got ${JSON.stringify(ip)}`);
  }
  return UID_BASE + ((octets[1]! << 16) | (octets[2]! << 8) | octets[3]!);
}

/** Pids of the running (not zombie) processes owned by `uid`. */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    try {
      if (statSync(`/proc/${entry}`).uid !== uid) continue;
    } catch {
      continue;
    }
    if (isRunning(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Ended between the listing and the signal.
    }
  }
}

/**
 * SIGKILLs every process of `uid`, round after round (a process may fork between the listing and
 * its signal), until none is left; rejects if some survive `timeoutMs`.
 */
export async function killAllOf(uid: number, label: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    () => {
      const pids = processesOf(uid);
      signalPids(pids, 'SIGKILL');
      return pids.length === 0;
    },
    { timeoutMs, intervalMs: 20, description: `every process of the light host ${label} (uid ${uid}) to end` },
  );
}

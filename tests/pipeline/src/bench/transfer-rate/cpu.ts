/**
 * CPU accounting for the transfer-rate bench, from /proc: who used the machine's cores during a run
 * (the client, the S3 server, the proxy in this process, the kernel, other processes, the
 * hypervisor's steal), the wait for an idle machine before each run, and the verdict on what held a
 * run back (the per-connection cap, one single-threaded process, or the CPU), so that a run that hit
 * the CPU instead of the cap says so.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { QUIET_WAIT_MS } from './config';

const TICKS = 100; // USER_HZ on Linux
export const CORES = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 1;

interface MachineTicks {
  /** user + nice + system */
  tasks: number;
  /** irq + softirq (loopback TCP's receive work lands here) */
  irq: number;
  /** time the hypervisor ran someone else on our vCPUs */
  steal: number;
  total: number;
}

/** The whole machine's (all cores) time by kind, from /proc/stat, in jiffies. */
function machineTicks(): MachineTicks {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  return {
    tasks: at(0) + at(1) + at(2),
    irq: at(5) + at(6),
    steal: at(7),
    total: at(0) + at(1) + at(2) + at(3) + at(4) + at(5) + at(6) + at(7),
  };
}

interface ProcessTicks {
  name: string;
  /** Kernel threads (children of kthreadd): writeback, softirq daemons. */
  kernel: boolean;
  ticks: number;
}

/** utime + stime of every process now, in jiffies. */
function processTicks(): Map<number, ProcessTicks> {
  const out = new Map<number, ProcessTicks>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      out.set(pid, { name, kernel: pid === 2 || fields[1] === '2', ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/**
 * A readable name for a process: `node tsc`, `python3 transfer.py`, `redis-server` (comm alone says
 * "MainThread" for every Node 24 process). Undefined once it has exited.
 */
function commandName(pid: number): string | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const base = (arg: string | undefined): string => (arg ?? '').split('/').pop() ?? '';
    const program = base(argv[0]);
    if (/^(node|python[\d.]*|bash|sh)$/.test(program) && argv[1] && !argv[1].startsWith('-')) return `${program} ${base(argv[1])}`;
    return program || undefined;
  } catch {
    return undefined;
  }
}

/** The embedded S3 server's process: our child started with --openssl-legacy-provider. */
export function findS3Pid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('--openssl-legacy-provider')) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

export interface CpuUse {
  /** Share of the whole machine busy during the run (processes, irq, softirq), 0..1. */
  machine: number;
  /** Cores' worth used (1.0 = one core fully) by the client process tree, the S3 server, the proxy. */
  client: number;
  s3: number;
  proxy: number;
  /** Cores' worth of irq + softirq and kernel threads (writeback...): mostly the transfer's own kernel work. */
  kernel: number;
  /** Cores' worth used by other processes (another build or test run spoils the figures), with the top ones. */
  others: number;
  topOthers: string;
  /** Cores' worth the hypervisor took away (steal): noise from outside the machine. */
  steal: number;
}

export class CpuMeter {
  private readonly machine0 = machineTicks();
  private readonly processes0 = processTicks();
  private readonly proxy0 = process.cpuUsage();
  private readonly started = performance.now();

  constructor(private readonly s3Pid: number | undefined) {}

  stop(clientCpuSeconds: number): CpuUse {
    const seconds = (performance.now() - this.started) / 1000;
    const machine = machineTicks();
    const processes = processTicks();
    const proxy = process.cpuUsage(this.proxy0);
    const span = Math.max(1, machine.total - this.machine0.total);
    const cores = (ticks: number): number => ticks / TICKS / seconds;
    const delta = (pid: number): number => Math.max(0, (processes.get(pid)?.ticks ?? 0) - (this.processes0.get(pid)?.ticks ?? 0));
    let kernelThreads = 0;
    const others: { pid: number; name: string; ticks: number }[] = [];
    for (const [pid, now] of processes) {
      if (pid === process.pid || pid === this.s3Pid) continue;
      const ticks = delta(pid);
      if (ticks === 0) continue;
      if (now.kernel) kernelThreads += ticks;
      else others.push({ pid, name: now.name, ticks });
    }
    others.sort((a, b) => b.ticks - a.ticks);
    const byName = new Map<string, number>();
    for (const other of others) {
      const name = commandName(other.pid) ?? other.name;
      byName.set(name, (byName.get(name) ?? 0) + other.ticks);
    }
    const top = [...byName.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .filter(([, ticks]) => cores(ticks) >= 0.05)
      .map(([name, ticks]) => `${name} ${Math.round(cores(ticks) * 100)}%`);
    return {
      machine: (machine.tasks + machine.irq - this.machine0.tasks - this.machine0.irq) / span,
      client: clientCpuSeconds / seconds,
      s3: this.s3Pid === undefined ? 0 : cores(delta(this.s3Pid)),
      proxy: (proxy.user + proxy.system) / 1e6 / seconds,
      kernel: cores(machine.irq - this.machine0.irq + kernelThreads),
      others: cores(others.reduce((sum, other) => sum + other.ticks, 0)),
      topOthers: top.join(', '),
      steal: ((machine.steal - this.machine0.steal) / span) * CORES,
    };
  }
}

export function cpuText(cpu: CpuUse): string {
  const pct = (v: number): string => `${Math.round(v * 100)}%`;
  const others = cpu.topOthers ? `${pct(cpu.others)}: ${cpu.topOthers}` : pct(cpu.others);
  const steal = cpu.steal >= 0.05 ? `, steal ${pct(cpu.steal)}` : '';
  return (
    `machine ${pct(cpu.machine)} (client ${pct(cpu.client)}, S3 ${pct(cpu.s3)}, proxy ${pct(cpu.proxy)}, ` +
    `kernel ${pct(cpu.kernel)}, others ${others}${steal})`
  );
}

/** The table's form: machine % [client, S3, proxy, others in % of one core]. */
export function cpuShort(cpu: CpuUse): string {
  const pct = (v: number): number => Math.round(v * 100);
  return `${pct(cpu.machine)}% [c${pct(cpu.client)} s${pct(cpu.s3)} p${pct(cpu.proxy)} o${pct(cpu.others)}]`;
}

/**
 * Waits (up to QUIET_WAIT_MS) until the machine is mostly idle for a second, so that a build or test
 * run of someone else's does not eat the cores a run needs; returns the busy share it last saw.
 */
export async function waitForQuiet(): Promise<number> {
  const until = performance.now() + QUIET_WAIT_MS;
  let share = 1;
  do {
    const before = machineTicks();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = machineTicks();
    share = (after.tasks + after.irq - before.tasks - before.irq) / Math.max(1, after.total - before.total);
  } while (share > 0.2 && performance.now() < until);
  return share;
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSimulatorApp } from './app';
import { DEFAULT_INSTANCE_TYPES } from './catalog';
import { createInstanceStore, type InstanceStore } from './instances';
import { DOCUMENTED_RATE_LIMITS, createRateLimiter } from './rate-limiter';
import { createSshKeyStore, type SimSshKey, type SshKeyStore } from './ssh-keys';
import type { LedgerEntry, SimCounters, SimFaults, SimInstanceSnapshot, SimulatorOptions } from './types';

/** What tests inspect and steer while the simulator runs. */
export interface SimulatorState {
  /** Fault switches, read on every request: assign to them at any time. */
  faults: SimFaults;
  /** Every instance ever launched, with billing up to terminate/preempt (or now). */
  ledger(): LedgerEntry[];
  /** A copy of the counters. */
  counters(): SimCounters;
  /** Instances still billed: booting, active or unhealthy. */
  aliveInstances(): SimInstanceSnapshot[];
  instance(id: string): SimInstanceSnapshot | undefined;
  sshKeys(): SimSshKey[];
  /** How many more instances of a type may launch in a region. */
  capacity(instanceType: string, region: string): number;
  setCapacity(instanceType: string, region: string, count: number): void;
  /** The host dies without the API knowing: the backend stops it, the status stays as it was. */
  killInstanceHost(id: string): Promise<void>;
  /** The provider takes the instance back: status `preempted`, host stopped, billing stops. */
  preempt(id: string): Promise<void>;
  /** Lambda's health check fails: the API says `unhealthy` (still billed); the host itself is untouched. */
  markUnhealthy(id: string): void;
}

export interface LambdaSimulator {
  /** Base URL ending in `/api/v1`, e.g. `http://127.0.0.1:40123/api/v1`. */
  url: string;
  port: number;
  state: SimulatorState;
  /** Stops listening, cuts open connections (hung requests too) and stops every host still running. */
  close(): Promise<void>;
}

function initialCounters(): SimCounters {
  return {
    requests: {},
    tooManyRequests: 0,
    rateLimitViolations: 0,
    launches: 0,
    terminations: 0,
    injectedFailures: 0,
    hostStopErrors: 0,
  };
}

export function initialFaults(): SimFaults {
  return {
    failRate: 0,
    insufficientCapacity: false,
    quotaExceeded: false,
    nextLaunchStatus: null,
    hangTerminate: 0,
    launchButFail: false,
    rateLimitNext: 0,
  };
}

function abortableSleep(signal: AbortSignal): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Error('simulator closed'));
      const timer = setTimeout(resolve, ms);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(new Error('simulator closed'));
        },
        { once: true },
      );
    });
}

function buildState(instances: InstanceStore, keys: SshKeyStore, counters: SimCounters, faults: SimFaults): SimulatorState {
  return {
    faults,
    ledger: () => instances.all().map((rec) => instances.ledgerEntry(rec)),
    counters: () => ({ ...counters, requests: { ...counters.requests } }),
    aliveInstances: () =>
      instances
        .all()
        .filter((rec) => rec.status === 'booting' || rec.status === 'active' || rec.status === 'unhealthy')
        .map((rec) => instances.snapshot(rec)),
    instance: (id) => {
      const rec = instances.all().find((candidate) => candidate.id === id);
      return rec ? instances.snapshot(rec) : undefined;
    },
    sshKeys: () => keys.list(),
    capacity: (type, region) => instances.types().find((candidate) => candidate.name === type)?.capacity[region] ?? 0,
    setCapacity: (type, region, count) => instances.setCapacity(type, region, count),
    killInstanceHost: (id) => instances.killHost(id),
    preempt: (id) => instances.preempt(id),
    markUnhealthy: (id) => instances.markUnhealthy(id),
  };
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startLambdaSimulator(opts: SimulatorOptions): Promise<LambdaSimulator> {
  const now = opts.now ?? Date.now;
  const counters = initialCounters();
  const faults = initialFaults();
  const closing = new AbortController();
  const instances = createInstanceStore({
    instanceTypes: opts.instanceTypes ?? DEFAULT_INSTANCE_TYPES.map((type) => ({ ...type })),
    hosts: opts.hosts,
    bootDelayMs: opts.bootDelayMs ?? 2000,
    sshReadyDelayMs: opts.sshReadyDelayMs ?? 0,
    terminatedRetentionMs: opts.terminatedRetentionMs ?? 300_000,
    jobTagKey: opts.jobTagKey ?? 'job-id',
    now,
    onHostStopError: () => {
      counters.hostStopErrors += 1;
    },
  });
  const keys = createSshKeyStore();
  const limits = opts.rateLimits === undefined ? DOCUMENTED_RATE_LIMITS : opts.rateLimits;
  const app = createSimulatorApp({
    apiKey: opts.apiKey,
    instances,
    keys,
    faults,
    counters,
    now,
    limiter: limits === false ? null : createRateLimiter(limits),
    random: opts.random ?? Math.random,
    sleep: abortableSleep(closing.signal),
  });

  const server = createServer(app);
  const host = opts.host ?? '127.0.0.1';
  const port = await listen(server, opts.port ?? 0, host);

  const state = buildState(instances, keys, counters, faults);

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/api/v1`,
    port,
    state,
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await instances.close();
    },
  };
}

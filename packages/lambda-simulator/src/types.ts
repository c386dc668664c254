/**
 * Public types of the Lambda Cloud API simulator. Wire shapes (snake_case) follow the published
 * spec (openapi 1.8.3); everything else (options, ledger, faults) is the simulator's own API.
 */

import type { CatalogInstanceType } from '@inno-train/cloud-catalog';

export type InstanceStatus = 'booting' | 'active' | 'unhealthy' | 'terminating' | 'terminated' | 'preempted';

/** An instance type the simulator offers: the catalog's shape (name, specs, price, capacity per region). */
export type SimInstanceType = CatalogInstanceType;

export interface HostStartRequest {
  instanceId: string;
  /** The public keys of the SSH keys named at launch, to install for the user `ubuntu`. */
  publicKeys: string[];
  /**
   * How long after this call sshd should start answering (boot delay + ssh ready delay), so a
   * backend can reproduce "active before sshd answers". Backends may ignore it.
   */
  sshReadyAfterMs: number;
}

/** What an instance "is": the simulator starts one per launch and stops it at terminate. */
export interface HostBackend {
  start(req: HostStartRequest): Promise<{ ip: string }>;
  stop(instanceId: string): Promise<void>;
}

export interface SimRateLimits {
  /** Accepted requests (any endpoint, launch included) per sliding 1000 ms window. */
  generalPerSecond: number;
  /** Minimum gap between two accepted launches. */
  launchMinIntervalMs: number;
  /** Accepted launches per sliding 60 s window. */
  launchPerMinute: number;
}

export interface SimulatorOptions {
  apiKey: string;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** @defaultValue 0 (any free port) */
  port?: number;
  /** @defaultValue DEFAULT_INSTANCE_TYPES */
  instanceTypes?: SimInstanceType[];
  /** booting -> active after this many ms (and once the host has started). @defaultValue 2000 */
  bootDelayMs?: number;
  /** Passed to the host backend: sshd answers this long after `active`. @defaultValue 0 */
  sshReadyDelayMs?: number;
  hosts: HostBackend;
  /** `false` disables limiting. @defaultValue the documented limits (1/s, 12 s, 5/min) */
  rateLimits?: SimRateLimits | false;
  /** How long a terminated instance stays readable by id before it answers 404. @defaultValue 300000 */
  terminatedRetentionMs?: number;
  /** Tag key whose value the ledger reports as `jobTag`. @defaultValue 'job-id' */
  jobTagKey?: string;
  /** Clock for boot, billing, retention and rate limits. @defaultValue Date.now */
  now?: () => number;
  /** Randomness for `faults.failRate`. @defaultValue Math.random */
  random?: () => number;
}

/** Switches read on every request; tests flip them at runtime. */
export interface SimFaults {
  /** Fraction (0..1) of authenticated calls answered 500 / 503 provider/internal-unavailable / 502 HTML. */
  failRate: number;
  /** Every launch fails with insufficient-capacity, whatever /instance-types says. */
  insufficientCapacity: boolean;
  /** Every launch fails with global/quota-exceeded. */
  quotaExceeded: boolean;
  /** 'unhealthy': the next launch goes booting -> unhealthy and never becomes active. Reset after use. */
  nextLaunchStatus: 'unhealthy' | null;
  /** Terminate requests hang this many ms before being carried out (0 = no hang). */
  hangTerminate: number;
  /** Launch creates the instance but answers 500. `true` = every launch, a number = the next N. */
  launchButFail: boolean | number;
  /** The next N authenticated requests get 429 without a Retry-After header (not counted as violations). */
  rateLimitNext: number;
}

export interface LedgerEntry {
  id: string;
  /** Value of the `jobTagKey` tag given at launch, if any. */
  jobTag?: string;
  name?: string;
  instanceType: string;
  region: string;
  status: InstanceStatus;
  launchedAt: number;
  /** When terminate was accepted; billing stops here. */
  terminatedAt?: number;
  /** When the instance was preempted; billing stops here too. */
  preemptedAt?: number;
  priceCentsPerHour: number;
  /** Whole seconds from launch to terminate/preempt (or now), rounded up. */
  billedSeconds: number;
  costCents: number;
}

export interface SimCounters {
  /** Requests per endpoint, keyed like `POST /instance-operations/launch` or `GET /instances/{id}`. */
  requests: Record<string, number>;
  /** Every 429 sent (rate limits and `faults.rateLimitNext`). */
  tooManyRequests: number;
  /** Requests that arrived while the configured limits were used up (each was answered 429). */
  rateLimitViolations: number;
  /** Instances created (including `launchButFail` ones). */
  launches: number;
  /** Instances terminated through the API. */
  terminations: number;
  /** Calls answered with an injected failure (`failRate`, `launchButFail`). */
  injectedFailures: number;
  /** host.stop() calls that threw. */
  hostStopErrors: number;
}

/** What tests see of an instance, whatever the API would answer. */
export interface SimInstanceSnapshot {
  id: string;
  status: InstanceStatus;
  ip?: string;
  /** false once the host was stopped (terminate, preempt, killInstanceHost). */
  hostAlive: boolean;
  name?: string;
  tags: { key: string; value: string }[];
  instanceType: string;
  region: string;
  sshKeyNames: string[];
  launchedAt: number;
}

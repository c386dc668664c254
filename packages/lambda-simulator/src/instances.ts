import { randomBytes } from 'node:crypto';
import type { CloudInstance } from '@inno-train/cloud-port';
import { regionOf } from './catalog';
import { SimApiError, instanceNotFound, invalidParameters } from './errors';
import type { HostBackend, InstanceStatus, LedgerEntry, SimInstanceSnapshot, SimInstanceType } from './types';

export interface LaunchInput {
  regionName: string;
  instanceTypeName: string;
  sshKeyNames: string[];
  publicKeys: string[];
  name?: string;
  hostname?: string;
  tags: { key: string; value: string }[];
  unhealthy: boolean;
}

interface InstanceRecord {
  id: string;
  name?: string;
  hostname?: string;
  type: SimInstanceType;
  region: string;
  sshKeyNames: string[];
  tags: { key: string; value: string }[];
  privateIp: string;
  launchedAt: number;
  status: InstanceStatus;
  willBeUnhealthy: boolean;
  hostFailed: boolean;
  hostAlive: boolean;
  hostStart?: Promise<void>;
  ip?: string;
  terminatedAt?: number;
  preemptedAt?: number;
}

export interface InstanceStoreOptions {
  instanceTypes: SimInstanceType[];
  hosts: HostBackend;
  bootDelayMs: number;
  sshReadyDelayMs: number;
  terminatedRetentionMs: number;
  jobTagKey: string;
  now: () => number;
  onHostStopError: () => void;
}

interface StoreContext {
  opts: InstanceStoreOptions;
  records: Map<string, InstanceRecord>;
  types: Map<string, SimInstanceType>;
  closed: boolean;
  launchedCount: number;
}

const ended = (rec: InstanceRecord): boolean => rec.status === 'terminated' || rec.status === 'preempted';

/** Status is derived lazily from the clock on every read, so a manual clock drives boot too. */
function refresh(ctx: StoreContext, rec: InstanceRecord): InstanceRecord {
  if (rec.status === 'booting' && ctx.opts.now() >= rec.launchedAt + ctx.opts.bootDelayMs) {
    if (rec.willBeUnhealthy || rec.hostFailed) rec.status = 'unhealthy';
    // A host still starting keeps the instance booting: `active` always comes with an ip here.
    else if (rec.ip !== undefined) rec.status = 'active';
  }
  return rec;
}

async function stopHost(ctx: StoreContext, rec: InstanceRecord): Promise<void> {
  if (!rec.hostAlive) return;
  rec.hostAlive = false;
  try {
    await ctx.opts.hosts.stop(rec.id);
  } catch {
    ctx.opts.onHostStopError();
  }
}

function startHost(ctx: StoreContext, rec: InstanceRecord, publicKeys: string[]): void {
  const request = { instanceId: rec.id, publicKeys, sshReadyAfterMs: ctx.opts.bootDelayMs + ctx.opts.sshReadyDelayMs };
  rec.hostStart = ctx.opts.hosts.start(request).then(
    async ({ ip }) => {
      rec.hostAlive = true;
      rec.ip = ip;
      // Terminated (or the simulator closed) while the host was still starting: give it back now.
      if (ended(rec) || ctx.closed) await stopHost(ctx, rec);
    },
    () => {
      rec.hostFailed = true;
    },
  );
}

function takeCapacity(ctx: StoreContext, input: LaunchInput): SimInstanceType {
  const type = ctx.types.get(input.instanceTypeName);
  if (!type) throw invalidParameters(`Unknown instance type ${JSON.stringify(input.instanceTypeName)}.`);
  const left = type.capacity[input.regionName] ?? 0;
  if (left <= 0) {
    throw new SimApiError(
      400,
      'instance-operations/launch/insufficient-capacity',
      'Not enough capacity to fulfill launch request.',
      'Try another region or instance type, or try again later.',
    );
  }
  type.capacity[input.regionName] = left - 1;
  return type;
}

function launch(ctx: StoreContext, input: LaunchInput): InstanceRecord {
  const type = takeCapacity(ctx, input);
  ctx.launchedCount += 1;
  const n = ctx.launchedCount;
  const rec: InstanceRecord = {
    id: randomBytes(16).toString('hex'),
    type,
    region: input.regionName,
    sshKeyNames: [...input.sshKeyNames],
    tags: input.tags.map((tag) => ({ ...tag })),
    privateIp: `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`,
    launchedAt: ctx.opts.now(),
    status: 'booting',
    willBeUnhealthy: input.unhealthy,
    hostFailed: false,
    hostAlive: false,
  };
  if (input.name !== undefined) rec.name = input.name;
  if (input.hostname !== undefined) rec.hostname = input.hostname;
  ctx.records.set(rec.id, rec);
  // An unhealthy instance never gets a reachable host: it is billed and useless, as in the field.
  if (!rec.willBeUnhealthy) startHost(ctx, rec, input.publicKeys);
  return rec;
}

function giveBackCapacity(rec: InstanceRecord): void {
  rec.type.capacity[rec.region] = (rec.type.capacity[rec.region] ?? 0) + 1;
}

/** Visible by id: everything except instances terminated longer ago than the retention. */
function visible(ctx: StoreContext, id: string): InstanceRecord | undefined {
  const rec = ctx.records.get(id);
  if (!rec) return undefined;
  if (rec.terminatedAt !== undefined && ctx.opts.now() - rec.terminatedAt > ctx.opts.terminatedRetentionMs) return undefined;
  return refresh(ctx, rec);
}

async function terminate(ctx: StoreContext, ids: string[]): Promise<InstanceRecord[]> {
  // All or nothing: one unknown or already terminated id fails the whole call with 404.
  const targets = ids.map((id) => {
    const rec = visible(ctx, id);
    if (!rec || rec.status === 'terminated') throw instanceNotFound();
    return rec;
  });
  for (const rec of targets) {
    if (rec.status !== 'preempted') giveBackCapacity(rec);
    rec.status = 'terminated';
    rec.terminatedAt = ctx.opts.now();
  }
  await Promise.all(targets.map((rec) => stopHost(ctx, rec)));
  return targets;
}

function mustGet(ctx: StoreContext, id: string): InstanceRecord {
  const rec = ctx.records.get(id);
  if (!rec) throw new Error(`No simulated instance ${id}`);
  return refresh(ctx, rec);
}

async function preempt(ctx: StoreContext, id: string): Promise<void> {
  const rec = mustGet(ctx, id);
  if (ended(rec)) return;
  rec.status = 'preempted';
  rec.preemptedAt = ctx.opts.now();
  giveBackCapacity(rec);
  await stopHost(ctx, rec);
}

/** Lambda's health check fails: the instance reads `unhealthy` (still billed); its host is left as it is. */
function markUnhealthy(ctx: StoreContext, id: string): void {
  const rec = mustGet(ctx, id);
  if (!ended(rec)) rec.status = 'unhealthy';
}

async function closeStore(ctx: StoreContext): Promise<void> {
  ctx.closed = true;
  await Promise.allSettled([...ctx.records.values()].map((rec) => rec.hostStart));
  await Promise.all([...ctx.records.values()].map((rec) => stopHost(ctx, rec)));
}

/** Instances, capacity and billing. Records are kept for ever so the ledger stays complete. */
export function createInstanceStore(opts: InstanceStoreOptions) {
  const ctx: StoreContext = {
    opts,
    records: new Map(),
    types: new Map(opts.instanceTypes.map((type) => [type.name, { ...type, capacity: { ...type.capacity } }])),
    closed: false,
    launchedCount: 0,
  };
  const all = (): InstanceRecord[] => [...ctx.records.values()].map((rec) => refresh(ctx, rec));
  return {
    launch: (input: LaunchInput) => launch(ctx, input),
    terminate: (ids: string[]) => terminate(ctx, ids),
    preempt: (id: string) => preempt(ctx, id),
    markUnhealthy: (id: string) => markUnhealthy(ctx, id),
    killHost: (id: string) => stopHost(ctx, mustGet(ctx, id)),
    close: () => closeStore(ctx),
    visible: (id: string) => visible(ctx, id),
    all,
    running: (): InstanceRecord[] => all().filter((rec) => rec.status !== 'terminated'),
    types: (): SimInstanceType[] => [...ctx.types.values()],
    setCapacity(typeName: string, region: string, count: number): void {
      const type = ctx.types.get(typeName);
      if (!type) throw new Error(`No simulated instance type ${typeName}`);
      type.capacity[region] = count;
    },
    ledgerEntry: (rec: InstanceRecord): LedgerEntry => ledgerEntry(rec, opts),
    snapshot,
    toWire,
  };
}

export type InstanceStore = ReturnType<typeof createInstanceStore>;
export type { InstanceRecord };

function ledgerEntry(rec: InstanceRecord, opts: InstanceStoreOptions): LedgerEntry {
  const end = rec.terminatedAt ?? rec.preemptedAt ?? opts.now();
  const billedSeconds = Math.max(0, Math.ceil((end - rec.launchedAt) / 1000));
  const entry: LedgerEntry = {
    id: rec.id,
    instanceType: rec.type.name,
    region: rec.region,
    status: rec.status,
    launchedAt: rec.launchedAt,
    priceCentsPerHour: rec.type.priceCentsPerHour,
    billedSeconds,
    costCents: (billedSeconds * rec.type.priceCentsPerHour) / 3600,
  };
  const jobTag = rec.tags.find((tag) => tag.key === opts.jobTagKey)?.value;
  if (jobTag !== undefined) entry.jobTag = jobTag;
  if (rec.name !== undefined) entry.name = rec.name;
  if (rec.terminatedAt !== undefined) entry.terminatedAt = rec.terminatedAt;
  if (rec.preemptedAt !== undefined) entry.preemptedAt = rec.preemptedAt;
  return entry;
}

function snapshot(rec: InstanceRecord): SimInstanceSnapshot {
  const snap: SimInstanceSnapshot = {
    id: rec.id,
    status: rec.status,
    hostAlive: rec.hostAlive,
    tags: rec.tags.map((tag) => ({ ...tag })),
    instanceType: rec.type.name,
    region: rec.region,
    sshKeyNames: [...rec.sshKeyNames],
    launchedAt: rec.launchedAt,
  };
  if (rec.ip !== undefined) snap.ip = rec.ip;
  if (rec.name !== undefined) snap.name = rec.name;
  return snap;
}

export function typeToWire(type: SimInstanceType) {
  return {
    name: type.name,
    description: type.description,
    gpu_description: type.gpuDescription,
    price_cents_per_hour: type.priceCentsPerHour,
    specs: { ...type.specs },
  };
}

/**
 * The spec's `Instance`. `ip` (and the ip-based hostname) only while active, as documented. Typed
 * against the cloud provider port, so the client-facing shape cannot drift from what callers read.
 */
function toWire(rec: InstanceRecord, status: InstanceStatus = rec.status): CloudInstance & Record<string, unknown> {
  const ip = status === 'active' ? rec.ip : undefined;
  const action = (available: boolean, reason: string) =>
    available ? { available } : { available, reason_code: reason, reason_description: `Instance is ${status}.` };
  const reason = status === 'booting' ? 'vm-has-not-launched' : 'vm-is-terminating';
  const wire: CloudInstance & Record<string, unknown> = {
    id: rec.id,
    status,
    ssh_key_names: [...rec.sshKeyNames],
    file_system_names: [],
    region: regionOf(rec.region),
    instance_type: typeToWire(rec.type),
    actions: {
      migrate: action(false, reason),
      rebuild: action(status === 'active', reason),
      restart: action(status === 'active', reason),
      cold_reboot: action(status === 'active', reason),
      terminate: action(status !== 'terminated', reason),
    },
    tags: rec.tags.map((tag) => ({ ...tag })),
    is_reserved: false,
  };
  if (rec.name !== undefined) wire.name = rec.name;
  if (ip !== undefined) {
    wire.ip = ip;
    wire.private_ip = rec.privateIp;
    wire.hostname = rec.hostname ?? ip.replace(/\./g, '-');
  }
  return wire;
}

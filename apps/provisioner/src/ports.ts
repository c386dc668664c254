import type { HostTarget } from '@inno-train/workflow';

/**
 * The Lambda and SSH operations the provisioner uses, as structural types: the real clients
 * satisfy them, and unit tests can hand in small fakes.
 */
export interface LambdaInstance {
  id: string;
  name?: string | null;
  ip?: string | null;
  status: string;
  region?: { name: string } | null;
  instance_type?: { name: string; price_cents_per_hour?: number } | null;
  tags?: { key: string; value: string }[] | null;
}

export interface LambdaInstanceTypeEntry {
  instance_type: { name: string; price_cents_per_hour: number; specs?: { gpus?: number } | null };
  regions_with_capacity_available: { name: string }[];
}

export interface LambdaApi {
  listInstanceTypes(): Promise<Record<string, LambdaInstanceTypeEntry>>;
  launch(request: {
    regionName: string;
    instanceTypeName: string;
    sshKeyNames: string[];
    name?: string;
    tags?: { key: string; value: string }[];
  }): Promise<{ instanceIds: string[] }>;
  listInstances(): Promise<LambdaInstance[]>;
  getInstance(id: string): Promise<LambdaInstance | null>;
  terminate(ids: string[]): Promise<unknown>;
}

export interface HostShell {
  probe(target: HostTarget, timeoutMs: number): Promise<boolean>;
  /** The host key the last connection to this address presented (SSH only). */
  hostKeyFingerprint?(target: Pick<HostTarget, 'host' | 'port'>): string | undefined;
  exec(target: HostTarget, command: string, options?: { timeoutMs?: number; label?: string }): Promise<{ stdout: string; stderr: string; exitCode: number | null }>;
}

/** Tags that mark an instance as ours and say which job it serves. */
export const JOB_TAG = 'inno-train:job';
export const LAUNCHED_AT_TAG = 'inno-train:launched-at';
/** Which installation launched it: the reconciler of one never touches another's instances. */
export const NAMESPACE_TAG = 'inno-train:ns';
/** Which launch attempt of the job it is (a relaunch must not adopt a retired instance). */
export const ATTEMPT_TAG = 'inno-train:attempt';

export function instanceName(jobId: string): string {
  return `inno-train-${jobId}`;
}

export function jobIdOfInstance(instance: LambdaInstance): string | null {
  return instance.tags?.find((tag) => tag.key === JOB_TAG)?.value ?? null;
}

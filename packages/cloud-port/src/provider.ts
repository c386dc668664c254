/**
 * The calls the provisioner makes of a cloud, in Lambda Cloud's shape (its API's field names): the
 * Lambda client answers them over HTTP, the local provider with folders on this machine, and unit
 * tests with small fakes. Only what the service reads is required, so any of them fits.
 */

/** A key/value tag on an instance; ours mark who launched it and for which job (see tags.ts). */
export interface InstanceTag {
  key: string;
  value: string;
}

export interface CloudInstance {
  id: string;
  name?: string | null;
  /** Present once the instance is `active`; the local provider puts its instance name here. */
  ip?: string | null;
  /** `booting`, `active`, `unhealthy`, `terminating`, `terminated`, `preempted`, or one not listed yet. */
  status: string;
  region?: { name: string } | null;
  instance_type?: { name: string; price_cents_per_hour?: number } | null;
  tags?: InstanceTag[] | null;
}

/** One entry of `listInstanceTypes()`: the type and the regions that had capacity when asked. */
export interface CloudInstanceTypeEntry {
  instance_type: { name: string; price_cents_per_hour: number; specs?: { gpus?: number } | null };
  regions_with_capacity_available: { name: string }[];
}

export interface CloudLaunchRequest {
  regionName: string;
  instanceTypeName: string;
  /** The SSH key to install; Lambda's API takes exactly one. */
  sshKeyNames: [string];
  /** At most 64 characters. */
  name?: string;
  /**
   * Keys match `^[a-z][a-z0-9-:]+$`. Tag every launch, so an ambiguous failure can be resolved by
   * finding the instance again.
   */
  tags?: InstanceTag[];
}

export interface CloudProvider {
  /** Type name -> the type and the regions with capacity now. */
  listInstanceTypes(): Promise<Record<string, CloudInstanceTypeEntry>>;
  /** One instance per call; a launch whose answer was lost is found by its tags, never repeated blindly. */
  launch(request: CloudLaunchRequest): Promise<{ instanceIds: string[] }>;
  /** The account's instances (terminated ones may be left out). */
  listInstances(): Promise<CloudInstance[]>;
  /** null when the cloud no longer knows the instance (never launched, or gone since). */
  getInstance(id: string): Promise<CloudInstance | null>;
  /** Idempotent: ids already terminated or gone count as terminated. */
  terminate(ids: string[]): Promise<unknown>;
}

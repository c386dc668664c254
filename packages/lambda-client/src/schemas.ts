/**
 * Response schemas for the Lambda Cloud API (spec 1.8.3), deliberately lenient: unknown fields pass
 * (`is_reserved` and friends appear without notice), and fields the field reports as sometimes
 * missing (`ip`, `private_ip`, `hostname`, `tags`...) are optional and nullable. Only what the
 * service cannot work without is required, so a new field or status never breaks a teardown.
 */
import { z } from 'zod';

export const INSTANCE_STATUSES = ['booting', 'active', 'unhealthy', 'terminating', 'terminated', 'preempted'] as const;
export type KnownInstanceStatus = (typeof INSTANCE_STATUSES)[number];
/** A status the spec lists, or one it does not list yet (kept as text rather than rejected). */
export type InstanceStatus = KnownInstanceStatus | (string & {});

const listOrEmpty = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((value) => value ?? []);

export const RegionSchema = z.looseObject({ name: z.string(), description: z.string().nullish() });

export const InstanceTypeSpecsSchema = z.looseObject({
  vcpus: z.number(),
  memory_gib: z.number(),
  storage_gib: z.number(),
  gpus: z.number(),
});

export const InstanceTypeSchema = z.looseObject({
  name: z.string(),
  description: z.string().nullish(),
  gpu_description: z.string().nullish(),
  price_cents_per_hour: z.number(),
  specs: InstanceTypeSpecsSchema.nullish(),
});

export const InstanceTypesItemSchema = z.looseObject({
  instance_type: InstanceTypeSchema,
  regions_with_capacity_available: listOrEmpty(RegionSchema),
});

export const InstanceTypesMapSchema = z.record(z.string(), InstanceTypesItemSchema);

export const TagSchema = z.looseObject({ key: z.string(), value: z.string() });

export const InstanceSchema = z.looseObject({
  id: z.string(),
  status: z.string().transform((value) => value as InstanceStatus),
  name: z.string().nullish(),
  ip: z.string().nullish(),
  private_ip: z.string().nullish(),
  hostname: z.string().nullish(),
  ssh_key_names: listOrEmpty(z.string()),
  file_system_names: listOrEmpty(z.string()),
  region: RegionSchema.nullish(),
  instance_type: InstanceTypeSchema.nullish(),
  tags: listOrEmpty(TagSchema),
});

export const LaunchResponseSchema = z.looseObject({ instance_ids: z.array(z.string()) });

export const TerminateResponseSchema = z.looseObject({ terminated_instances: listOrEmpty(InstanceSchema) });

export const SshKeySchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  public_key: z.string().nullish(),
  /** Only when the API generated the pair; it is not stored server-side. */
  private_key: z.string().nullish(),
});

export const EmptySchema = z.unknown();

export const ErrorEnvelopeSchema = z.looseObject({
  error: z.looseObject({ code: z.string().min(1), message: z.string().nullish(), suggestion: z.string().nullish() }),
});

export type Region = z.output<typeof RegionSchema>;
export type InstanceTypeSpecs = z.output<typeof InstanceTypeSpecsSchema>;
export type InstanceType = z.output<typeof InstanceTypeSchema>;
export type InstanceTypesItem = z.output<typeof InstanceTypesItemSchema>;
/** `GET /instance-types`: type name -> type and the regions that had capacity when asked. */
export type InstanceTypesMap = z.output<typeof InstanceTypesMapSchema>;
export type Tag = z.output<typeof TagSchema>;
export type Instance = z.output<typeof InstanceSchema>;
export type SshKey = z.output<typeof SshKeySchema>;

import { z } from 'zod';
import { ENV_KEY_PATTERN } from '@inno-train/core';

/** Names that become file names and environment variable suffixes on the host. */
export const INPUT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;
/** A job's display name: also part of the instance name, so kept to safe characters. */
export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const FILENAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const METADATA_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const INSTANCE_TYPE_PATTERN = /^[a-z0-9][a-z0-9_]{0,63}$/;
const REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
const S3_URI_PATTERN = /^s3:\/\/[^\s]+$/;

/** Variables the service sets on the host; a job's `env` may not override them. */
export const RESERVED_ENV_KEYS = new Set([
  'JOB_ID',
  'JOB_DIR',
  'INPUT_DIR',
  'CONFIG_PATH',
  'OUTPUT_DIR',
  'CHECKPOINT_DIR',
  'RESUME_FROM',
  'HOME',
  'PATH',
  'USER',
  'SHELL',
  // Read-only or special in bash: `export UID=...` would fail in the wrapper.
  'UID',
  'EUID',
  'PPID',
  'SHELLOPTS',
  'BASHOPTS',
  'BASH_VERSINFO',
  'GROUPS',
  'IFS',
]);

/** How often checkpoints are synced when a job does not say (`checkpoint.syncSeconds`). */
export const DEFAULT_CHECKPOINT_SYNC_SECONDS = 300;

/** A shell cannot carry NUL in a value or a script: refuse it rather than truncate. */
const noNul = (value: string) => !value.includes('\0');
const NO_NUL = 'must not contain NUL characters';

/** Nesting and size bounds for `config`: it is rendered to YAML and stored with the job. */
const MAX_CONFIG_DEPTH = 32;
const MAX_CONFIG_BYTES = 256 * 1024;

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  for (const child of Object.values(value as Record<string, unknown>)) {
    deepest = Math.max(deepest, depthOf(child, limit, depth + 1));
    if (deepest > limit) break;
  }
  return deepest;
}

/** Half of the API's 1 MiB body limit, so a maximal script still fits with the rest of the job. */
export const MAX_INLINE_SCRIPT_BYTES = 512 * 1024;

/** A UTF-16 surrogate without its pair: no UTF-8 encodes it, so no S3 key can hold it (the SDK throws URIError). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const s3Uri = z
  .string()
  .max(1024)
  .regex(S3_URI_PATTERN, 'must be an s3:// URI')
  .refine((uri) => !LONE_SURROGATE.test(uri), 'must be valid Unicode (an unpaired surrogate cannot be in an S3 key)');

const scriptSchema = z.union([
  z.strictObject({
    inline: z
      .string()
      .min(1)
      .refine(
        (text) => Buffer.byteLength(text, 'utf8') <= MAX_INLINE_SCRIPT_BYTES,
        `must be at most ${MAX_INLINE_SCRIPT_BYTES} bytes (UTF-8)`,
      )
      .refine(noNul, NO_NUL),
    filename: z.string().regex(FILENAME_PATTERN, 'must be a plain file name (letters, digits, . _ -)').default('train.py'),
  }),
  z.strictObject({
    uri: s3Uri,
    filename: z.string().regex(FILENAME_PATTERN, 'must be a plain file name (letters, digits, . _ -)').optional(),
  }),
]);

const envSchema = z
  .record(
    z.string().regex(ENV_KEY_PATTERN, 'must be a shell variable name ([A-Za-z_][A-Za-z0-9_]*)'),
    z.string().max(8192).refine(noNul, NO_NUL),
  )
  .refine((env) => Object.keys(env).length <= 128, 'at most 128 variables')
  .superRefine((env, ctx) => {
    for (const key of Object.keys(env)) {
      if (RESERVED_ENV_KEYS.has(key) || key.startsWith('INPUT_') || key.startsWith('INNO_')) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is set by the service and cannot be overridden` });
      }
    }
  });

/** The submission's fields (the OpenAPI request body); `jobSubmissionSchema` also refuses reserved keys first. */
export const jobSubmissionObjectSchema = z.strictObject({
  name: z.string().regex(JOB_NAME_PATTERN, 'must be 1-64 letters, digits, . _ - (starting with a letter or digit)').optional(),
  instance: z.strictObject({
    type: z.string().regex(INSTANCE_TYPE_PATTERN, 'must be a Lambda instance type name such as gpu_1x_a10'),
    regions: z.array(z.string().regex(REGION_PATTERN, 'must be a region name such as us-east-1')).min(1).max(32).optional(),
    /** More instance types to try, in order, when `type` has no capacity. */
    fallbackTypes: z.array(z.string().regex(INSTANCE_TYPE_PATTERN, 'must be a Lambda instance type name')).max(8).optional(),
    /** Keep re-trying for capacity this long before failing with no_capacity (default: fail at once). */
    capacityWaitSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .optional(),
  }),
  inputs: z
    .record(z.string().regex(INPUT_NAME_PATTERN, 'input names must match ^[a-z][a-z0-9_]{0,31}$'), s3Uri)
    .refine((inputs) => Object.keys(inputs).length <= 64, 'at most 64 inputs')
    .default({}),
  script: scriptSchema,
  command: z.string().min(1).max(16384).refine(noNul, NO_NUL).optional(),
  config: z
    .record(z.string(), z.unknown())
    .superRefine((config, ctx) => {
      // Depth first: serializing a very deep value would itself overflow the stack.
      if (depthOf(config, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH) {
        ctx.addIssue({ code: 'custom', message: `must nest at most ${MAX_CONFIG_DEPTH} levels` });
      } else if (Buffer.byteLength(JSON.stringify(config)) > MAX_CONFIG_BYTES) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_CONFIG_BYTES} bytes as JSON` });
      }
    })
    .optional(),
  env: envSchema.optional(),
  outputUri: s3Uri.refine((uri) => uri.endsWith('/'), 'must be a prefix ending in /').optional(),
  maxRuntimeSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600)
    .optional(),
  /**
   * Start over on a fresh instance, resuming from the latest synced checkpoint: `onHostLost` times
   * when the host dies under the job, `onPreempted` times when the cloud says it reclaimed the instance.
   */
  retry: z
    .strictObject({ onHostLost: z.number().int().min(0).max(5).optional(), onPreempted: z.number().int().min(0).max(20).optional() })
    .optional(),
  /**
   * Checkpoints: every `syncSeconds` (default 300, at least 5) the host's CHECKPOINT_DIR is listed
   * and its complete entries are uploaded to `<outputUri>checkpoints/` (README, "Checkpoints").
   */
  checkpoint: z
    .strictObject({
      syncSeconds: z
        .number()
        .int()
        .min(5)
        .max(24 * 3600)
        .default(DEFAULT_CHECKPOINT_SYNC_SECONDS),
    })
    .optional(),
  /**
   * Start from a checkpoint another job of the same owner synced: stage-in restores it into
   * CHECKPOINT_DIR before the first training start and RESUME_FROM points at it. `checkpoint` is the
   * entry's name (GET /v1/jobs/{id}/checkpoints); the latest (highest step) when omitted.
   */
  resumeFrom: z
    .strictObject({
      jobId: z.string().regex(/^j[0-9a-z]{22}$/, 'must be a job id'),
      checkpoint: z
        .string()
        .min(1)
        .max(255)
        .refine((name) => !name.includes('/') && !name.startsWith('.') && noNul(name), 'must be a checkpoint name (no /, no leading .)')
        .optional(),
    })
    .optional(),
  /** Stop the job (failed, max_cost_exceeded) once its instances have cost this much. */
  maxCostUsd: z.number().positive().max(1_000_000).optional(),
  metadata: z
    .record(
      z.string().regex(METADATA_KEY_PATTERN, 'metadata keys must be 1-64 letters, digits, . _ -'),
      z.string().max(1024).refine(noNul, NO_NUL),
    )
    .refine((m) => Object.keys(m).length <= 64, 'at most 64 metadata entries')
    .optional(),
});

/**
 * Keys that name an object's prototype machinery. zod's records skip `__proto__` silently (and code
 * that copies objects may mishandle all three), so a submission naming one anywhere is refused
 * with its path instead of having a field quietly vanish.
 */
export const RESERVED_JSON_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function reservedKeyPaths(value: unknown, path: (string | number)[] = [], found: (string | number)[][] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object' || found.length >= 16 || path.length > 64) return found;
  for (const key of Object.keys(value)) {
    const here = [...path, Array.isArray(value) ? Number(key) : key];
    if (RESERVED_JSON_KEYS.has(key)) found.push(here);
    else reservedKeyPaths((value as Record<string, unknown>)[key], here, found);
  }
  return found;
}

/** A job submission: reserved keys refused first, then the fields. */
export const jobSubmissionSchema = z
  .unknown()
  .superRefine((body, ctx) => {
    for (const path of reservedKeyPaths(body)) {
      ctx.addIssue({ code: 'custom', path, message: `the key "${String(path.at(-1))}" is reserved` });
    }
  })
  .pipe(jobSubmissionObjectSchema);

export type JobSubmission = z.infer<typeof jobSubmissionSchema>;
export type JobSubmissionInput = z.input<typeof jobSubmissionObjectSchema>;

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { registerSecret } from '@inno-train/core';
import { z } from 'zod';

/**
 * Who may call the API: every key belongs to a tenant (its `name`, stored as `createdBy` on the
 * jobs it submits). Clients see and spend only their own; admins see every tenant's jobs and open
 * Bull Board. Keys are held as SHA-256 digests only: the plain key is never stored or logged.
 */
export const KEY_ROLES = ['client', 'admin'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

export interface Tenant {
  name: string;
  role: KeyRole;
  /** s3://bucket/prefix entries this tenant's jobs may read and write. */
  allowedPrefixes: string[];
  /** Jobs past `queued` at once (null: no limit). */
  maxConcurrentJobs: number | null;
  /** Spend per calendar month (UTC) in USD (null: no budget). */
  monthlyBudgetUsd: number | null;
}

export interface KeyEntry extends Tenant {
  digest: Buffer;
}

/** A bucket and a key prefix ending in `/`: without it, `team-a` would also cover `team-a-other/`. */
export const S3_PREFIX_PATTERN = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/(.*\/)?$/;
const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A configured key given as its SHA-256 (`sha256:<64 hex>` in API_KEYS), so the plain key need not be stored. */
const HASHED_KEY = /^sha256:([0-9a-f]{64})$/;

export function digestOf(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

const fileEntrySchema = z
  .strictObject({
    name: z.string().regex(TENANT_NAME, 'must be 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit'),
    key: z.string().min(16, 'must be at least 16 characters').max(512).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (the SHA-256 of the key)')
      .optional(),
    role: z.enum(KEY_ROLES).default('client'),
    allowedPrefixes: z.array(z.string().regex(S3_PREFIX_PATTERN, 'must be an s3://bucket/prefix/ ending in /')).min(1).optional(),
    maxConcurrentJobs: z.number().int().min(1).max(10_000).optional(),
    monthlyBudgetUsd: z.number().positive().max(100_000_000).optional(),
  })
  .refine((entry) => (entry.key === undefined) !== (entry.sha256 === undefined), {
    message: 'give exactly one of key or sha256',
    path: ['key'],
  });

const keysFileSchema = z.strictObject({ keys: z.array(fileEntrySchema).min(1, 'must list at least one key') });

export class KeysConfigError extends Error {
  readonly code = 'invalid_api_keys';
}

export interface KeySources {
  /** API_KEYS: clients with no limits (named `key_<digest prefix>`). */
  keys?: string[];
  /** API_ADMIN_KEYS: admins, the same way. */
  adminKeys?: string[];
  /** API_KEYS_FILE: its path; read here, once, at start. */
  file?: string;
  /** S3_ALLOWED_PREFIXES (or the service's bucket): a key's prefixes unless it names its own. */
  defaultPrefixes: string[];
}

/** Every key the API accepts. Throws a KeysConfigError naming the entry and field (never the key). */
export function loadKeyEntries(sources: KeySources): KeyEntry[] {
  const labelled: { label: string; entry: KeyEntry }[] = [
    ...(sources.keys ?? []).map((key, i) => ({ label: `API_KEYS[${i}]`, entry: plainEntry(key, 'client', sources.defaultPrefixes) })),
    ...(sources.adminKeys ?? []).map((key, i) => ({
      label: `API_ADMIN_KEYS[${i}]`,
      entry: plainEntry(key, 'admin', sources.defaultPrefixes),
    })),
    ...(sources.file ? fileEntries(sources.file, sources.defaultPrefixes) : []).map((entry, i) => ({
      label: `API_KEYS_FILE keys[${i}] (${entry.name})`,
      entry,
    })),
  ];
  if (labelled.length === 0) throw new KeysConfigError('Invalid configuration: set API_KEYS, API_ADMIN_KEYS or API_KEYS_FILE');
  const names = new Map<string, string>();
  const digests = new Map<string, string>();
  for (const { label, entry } of labelled) {
    const hex = entry.digest.toString('hex');
    const sameKey = digests.get(hex);
    if (sameKey) throw new KeysConfigError(`Invalid API keys: ${label} has the same key as ${sameKey}`);
    const sameName = names.get(entry.name);
    if (sameName) throw new KeysConfigError(`Invalid API keys: ${label}.name "${entry.name}" is already used by ${sameName}`);
    digests.set(hex, label);
    names.set(entry.name, label);
  }
  return labelled.map(({ entry }) => entry);
}

function plainEntry(key: string, role: KeyRole, prefixes: string[]): KeyEntry {
  const hashed = HASHED_KEY.exec(key);
  const digest = hashed ? Buffer.from(hashed[1]!, 'hex') : digestOf(key);
  return {
    name: `key_${digest.toString('hex').slice(0, 12)}`,
    role,
    allowedPrefixes: prefixes,
    maxConcurrentJobs: null,
    monthlyBudgetUsd: null,
    digest,
  };
}

function fileEntries(path: string, defaultPrefixes: string[]): KeyEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new KeysConfigError(`Invalid API_KEYS_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeysConfigError(`Invalid API_KEYS_FILE: ${path} is not valid JSON`);
  }
  const parsed = keysFileSchema.safeParse(json);
  if (!parsed.success) throw new KeysConfigError(`Invalid API_KEYS_FILE ${path}: ${describeIssue(parsed.error, json)}`);
  // Keys never reach a log line, whichever process serves them.
  for (const entry of parsed.data.keys) if (entry.key) registerSecret(entry.key);
  return parsed.data.keys.map((entry) => ({
    name: entry.name,
    role: entry.role,
    allowedPrefixes: entry.allowedPrefixes ?? defaultPrefixes,
    maxConcurrentJobs: entry.maxConcurrentJobs ?? null,
    monthlyBudgetUsd: entry.monthlyBudgetUsd ?? null,
    digest: entry.sha256 ? Buffer.from(entry.sha256, 'hex') : digestOf(entry.key!),
  }));
}

/** "keys[1] (team-b).monthlyBudgetUsd: ..." — the entry by index and name, the field, never a value. */
function describeIssue(error: z.ZodError, json: unknown): string {
  const issue = error.issues[0]!;
  const [top, index, ...rest] = issue.path.map(String);
  if (top !== 'keys' || index === undefined) return `${issue.path.join('.') || '(file)'}: ${issue.message}`;
  const entries = (json as { keys?: unknown[] }).keys;
  const name = Array.isArray(entries) ? (entries[Number(index)] as { name?: unknown } | undefined)?.name : undefined;
  const label = typeof name === 'string' && TENANT_NAME.test(name) ? ` (${name})` : '';
  const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : rest.join('.');
  return `keys[${index}]${label}${field ? `.${field}` : ''}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`;
}

/** The tenant a public view of a key entry describes (no digest). */
export function tenantOf(entry: KeyEntry): Tenant {
  const { digest: _digest, ...tenant } = entry;
  return tenant;
}

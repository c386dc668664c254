import type { CloudLaunchRequest, CloudProvider } from '@inno-train/cloud-port';
import { registerSecret } from '@inno-train/core';
import { z } from 'zod';
import { isNotFound, LambdaApiError } from './errors';
import { createLocalPacer, type Pacer } from './pacer';
import {
  EmptySchema,
  InstanceSchema,
  InstanceTypesMapSchema,
  LaunchResponseSchema,
  SshKeySchema,
  TerminateResponseSchema,
  type Instance,
  type InstanceTypesMap,
  type SshKey,
} from './schemas';
import { createTransport, type LambdaClientLogger, type LambdaRequestRecord, type Transport } from './transport';

export interface LambdaClientOptions {
  /** e.g. `https://cloud.lambda.ai/api/v1` (the base the spec's paths hang off). */
  baseUrl: string;
  apiKey: string;
  /** Per attempt, answer and body included. @defaultValue 15000 */
  timeoutMs?: number;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Paces every attempt, retries included. Use the Redis pacer when more than one process shares
   * the account. @defaultValue a local pacer with the documented limits
   */
  pacer?: Pacer;
  /** Retries after the first attempt, for retryable failures only. @defaultValue 4 */
  maxRetries?: number;
  /** Backoff base; attempt n waits about base * 2^n, with jitter. @defaultValue 1000 */
  retryBaseMs?: number;
  /** @defaultValue 30000 */
  retryCapMs?: number;
  logger?: LambdaClientLogger;
  /** Told about every attempt (retries included) after it settled, for metrics; must not throw. */
  onRequest?: (record: LambdaRequestRecord) => void;
}

/** The port's launch request, plus what only Lambda offers. */
export interface LaunchRequest extends CloudLaunchRequest {
  hostname?: string;
  image?: { id: string } | { family: string };
  userData?: string;
  fileSystemNames?: string[];
}

export interface TerminateResult {
  /** What the API reported as terminated (status `terminating` as it answers). */
  terminated: Instance[];
  /** Ids the API no longer knows: terminated earlier, by us or anyone. */
  alreadyGone: string[];
}

/** The cloud provider port over Lambda's HTTP API, plus its SSH key calls. */
export interface LambdaClient extends CloudProvider {
  listInstanceTypes(): Promise<InstanceTypesMap>;
  /**
   * One instance per call. Not retried when the outcome is unknown (timeout, 5xx, reset): the
   * error has `outcomeUnknown: true` and the caller must look for the instance by its tags.
   */
  launch(req: LaunchRequest): Promise<{ instanceIds: string[] }>;
  listInstances(): Promise<Instance[]>;
  /** null when the API says the instance does not exist (never launched, or gone since). */
  getInstance(id: string): Promise<Instance | null>;
  /** Idempotent: ids the API no longer knows count as already terminated. */
  terminate(ids: string[]): Promise<TerminateResult>;
  listSshKeys(): Promise<SshKey[]>;
  addSshKey(name: string, publicKey: string): Promise<SshKey>;
  deleteSshKey(id: string): Promise<void>;
}

const id = (value: string): string => encodeURIComponent(value);

function launchBody(req: LaunchRequest): Record<string, unknown> {
  // `quantity` is never sent: the API rejects values above 1, and one launch per call keeps the
  // instance-to-job mapping unambiguous.
  const body: Record<string, unknown> = {
    region_name: req.regionName,
    instance_type_name: req.instanceTypeName,
    ssh_key_names: [...req.sshKeyNames],
  };
  if (req.name !== undefined) body.name = req.name;
  if (req.hostname !== undefined) body.hostname = req.hostname;
  if (req.tags !== undefined) body.tags = req.tags.map((tag) => ({ key: tag.key, value: tag.value }));
  if (req.image !== undefined) body.image = req.image;
  if (req.userData !== undefined) body.user_data = req.userData;
  if (req.fileSystemNames !== undefined) body.file_system_names = [...req.fileSystemNames];
  return body;
}

type Request = Transport['request'];

async function terminateBatch(request: Request, ids: string[]): Promise<TerminateResult> {
  try {
    const data = await request({
      operation: 'terminate',
      method: 'POST',
      path: '/instance-operations/terminate',
      body: { instance_ids: ids },
      schema: TerminateResponseSchema,
      pace: 'general',
      repeatable: true,
    });
    return { terminated: data.terminated_instances, alreadyGone: [] };
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (ids.length === 1) return { terminated: [], alreadyGone: [...ids] };
    // The API fails the whole batch when one id is gone; one by one, the others still get terminated.
    const result: TerminateResult = { terminated: [], alreadyGone: [] };
    for (const single of ids) {
      const part = await terminateBatch(request, [single]);
      result.terminated.push(...part.terminated);
      result.alreadyGone.push(...part.alreadyGone);
    }
    return result;
  }
}

async function addSshKey(request: Request, name: string, publicKey: string): Promise<SshKey> {
  try {
    return await request({
      operation: 'addSshKey',
      method: 'POST',
      path: '/ssh-keys',
      body: { name, public_key: publicKey },
      schema: SshKeySchema,
      pace: 'general',
      repeatable: false,
    });
  } catch (err) {
    // A timeout or 5xx may still have added it; a blind retry would then fail as a duplicate name.
    if (!(err instanceof LambdaApiError) || !err.outcomeUnknown) throw err;
    const keys = await request({
      operation: 'listSshKeys',
      method: 'GET',
      path: '/ssh-keys',
      schema: z.array(SshKeySchema),
      pace: 'general',
      repeatable: true,
    });
    const existing = keys.find((key) => key.name === name && key.public_key?.trim() === publicKey.trim());
    if (existing) return existing;
    throw err;
  }
}

export function createLambdaClient(opts: LambdaClientOptions): LambdaClient {
  // Registered before any request, so no error or log line can carry the key.
  registerSecret(opts.apiKey);
  const logger = opts.logger;
  const { request } = createTransport({
    baseUrl: opts.baseUrl,
    apiKey: opts.apiKey,
    timeoutMs: opts.timeoutMs ?? 15_000,
    fetch: opts.fetch ?? globalThis.fetch,
    pacer: opts.pacer ?? createLocalPacer(),
    maxRetries: opts.maxRetries ?? 4,
    retryBaseMs: opts.retryBaseMs ?? 1_000,
    retryCapMs: opts.retryCapMs ?? 30_000,
    logger,
    onRequest: opts.onRequest,
  });
  const get = <T>(operation: string, path: string, schema: z.ZodType<T>): Promise<T> =>
    request({ operation, method: 'GET', path, schema, pace: 'general', repeatable: true });

  return {
    listInstanceTypes: () => get('listInstanceTypes', '/instance-types', InstanceTypesMapSchema),
    async launch(req) {
      const data = await request({
        operation: 'launch',
        method: 'POST',
        path: '/instance-operations/launch',
        body: launchBody(req),
        schema: LaunchResponseSchema,
        pace: 'launch',
        repeatable: false,
      });
      logger?.info(
        { instanceIds: data.instance_ids, region: req.regionName, instanceType: req.instanceTypeName },
        `Launched Lambda instance ${data.instance_ids.join(', ')} (${req.instanceTypeName} in ${req.regionName})`,
      );
      return { instanceIds: data.instance_ids };
    },
    listInstances: () => get('listInstances', '/instances', z.array(InstanceSchema)),
    async getInstance(instanceId) {
      try {
        return await get('getInstance', `/instances/${id(instanceId)}`, InstanceSchema);
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async terminate(ids) {
      if (ids.length === 0) return { terminated: [], alreadyGone: [] };
      const result = await terminateBatch(request, [...ids]);
      logger?.info(
        { terminated: result.terminated.map((i) => i.id), alreadyGone: result.alreadyGone },
        `Terminated Lambda instances: ${result.terminated.length} terminated, ${result.alreadyGone.length} already gone`,
      );
      return result;
    },
    listSshKeys: () => get('listSshKeys', '/ssh-keys', z.array(SshKeySchema)),
    addSshKey: (name, publicKey) => addSshKey(request, name, publicKey),
    async deleteSshKey(keyId) {
      await request({
        operation: 'deleteSshKey',
        method: 'DELETE',
        path: `/ssh-keys/${id(keyId)}`,
        schema: EmptySchema,
        pace: 'general',
        repeatable: true,
      });
    },
  };
}

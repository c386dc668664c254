import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { createLogger, isoNow } from '@inno-train/core';
import { deleteNamespace } from '@inno-train/test-kit';
import { createJobStore, newJobId, type JobStore } from '@inno-train/job-store';
import { createJobRecord, jobSubmissionSchema, type JobRecord, type JobSpec, type JobSubmissionInput } from '@inno-train/schemas';
import { closeStageQueues, openStageQueues, type StageQueues } from '@inno-train/workflow';
import { defaultTimings, type QueueName, type WorkflowTimings } from '@inno-train/workflow-constants';
import type { CloudInstance, CloudInstanceTypeEntry, CloudLaunchRequest, CloudProvider } from '@inno-train/cloud-port';
import type { ExecResult, HostExecutor } from '@inno-train/host-port';
import { directCloudView, type ProvisionDeps } from '../src';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DEFAULT_BUCKET = 'inno-default';
export const logger = createLogger({ name: 'provisioner-test', level: 'silent' });

export type LaunchRequest = CloudLaunchRequest;

/**
 * A scriptable Lambda: `types` answers listInstanceTypes, `instances` answers getInstance, and
 * listInstances answers both `instances` (those not set to null: gone) and `listed` (instances the
 * record does not know, such as ghosts). Every call is recorded.
 */
export class FakeLambda implements CloudProvider {
  types: Record<string, CloudInstanceTypeEntry> = {
    gpu_1x_a10: {
      instance_type: { name: 'gpu_1x_a10', price_cents_per_hour: 75 },
      regions_with_capacity_available: [{ name: 'us-west-1' }],
    },
    gpu_8x_h100: { instance_type: { name: 'gpu_8x_h100', price_cents_per_hour: 2392 }, regions_with_capacity_available: [] },
  };
  listed: CloudInstance[] = [];
  instances = new Map<string, CloudInstance | null>();
  readonly launches: LaunchRequest[] = [];
  readonly terminations: string[][] = [];
  readonly getCalls: string[] = [];
  listTypeCalls = 0;
  /** Replaces the default launch behaviour (a new booting instance) when set. */
  onLaunch: ((request: LaunchRequest) => Promise<{ instanceIds: string[] }>) | null = null;
  private counter = 0;

  async listInstanceTypes() {
    this.listTypeCalls++;
    return structuredClone(this.types);
  }

  async launch(request: LaunchRequest) {
    this.launches.push(structuredClone(request));
    if (this.onLaunch) return this.onLaunch(request);
    const id = `i-${++this.counter}-${request.regionName}`;
    this.instances.set(id, {
      id,
      status: 'booting',
      ip: null,
      region: { name: request.regionName },
      instance_type: { name: request.instanceTypeName },
      tags: request.tags ?? null,
      name: request.name ?? null,
    });
    return { instanceIds: [id] };
  }

  listCalls = 0;

  async listInstances() {
    this.listCalls++;
    // An instance in both: `listed` has its tags, `instances` its latest status.
    const merged = new Map(this.listed.map((instance) => [instance.id, instance]));
    for (const [id, instance] of this.instances) {
      if (instance === null) merged.delete(id);
      else merged.set(id, { ...merged.get(id), ...instance });
    }
    return structuredClone([...merged.values()]);
  }

  async getInstance(id: string) {
    this.getCalls.push(id);
    const found = this.instances.get(id);
    return found === undefined ? null : structuredClone(found);
  }

  async terminate(ids: string[]): Promise<unknown> {
    this.terminations.push([...ids]);
    return {};
  }

  setInstance(id: string, patch: Partial<CloudInstance>): void {
    const current = this.instances.get(id) ?? { id, status: 'booting' };
    this.instances.set(id, { ...current, ...patch });
  }
}

export class FakeShell implements HostExecutor {
  reachable = false;
  readonly probes: { host: string; port: number; username: string }[] = [];
  readonly commands: { host: string; command: string }[] = [];
  execError: Error | null = null;

  async probe(target: { host: string; port: number; username: string }) {
    this.probes.push({ host: target.host, port: target.port, username: target.username });
    return this.reachable;
  }

  async exec(target: { host: string }, command: string): Promise<ExecResult> {
    this.commands.push({ host: target.host, command });
    if (this.execError) throw this.execError;
    return { stdout: '', stderr: '', exitCode: 0, signal: null, stdoutTruncated: false, stderrTruncated: false };
  }

  async upload(): Promise<void> {
    throw new Error('The provisioner writes no file on a host');
  }
}

export interface Harness {
  ns: string;
  redis: Redis;
  queues: StageQueues;
  deps: ProvisionDeps & { lambda: FakeLambda; shell: FakeShell };
  close(): Promise<void>;
}

export function openHarness(label: string, timings: Partial<WorkflowTimings> = {}): Harness {
  const ns = `t-prov-${label}-${process.pid}-${Date.now()}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const store = createJobStore({ redis, namespace: ns });
  const queues = openStageQueues({ connection: redis, prefix: `{${ns}}` });
  const lambda = new FakeLambda();
  const deps = {
    store,
    queues,
    lambda,
    cloud: directCloudView(lambda),
    shell: new FakeShell(),
    identity: { username: 'ubuntu', port: 22, privateKey: 'x' },
    sshKeyName: 'k',
    namespace: ns,
    timings: { ...defaultTimings(), ...timings },
  };
  return {
    ns,
    redis,
    queues,
    deps,
    async close() {
      await closeStageQueues(queues);
      await deleteNamespace(redis, ns);
      await redis.quit();
    },
  };
}

/** Gives every test a fresh fake Lambda and shell (the store and queues stay). */
export function resetFakes(h: Harness): void {
  h.deps.lambda = new FakeLambda();
  h.deps.cloud = directCloudView(h.deps.lambda);
  h.deps.shell = new FakeShell();
}

/** Makes a job record the way the API's submitJob does (apps/api/src/submit.ts), without the S3 checks. */
export async function createJob(
  store: JobStore,
  input: Partial<JobSubmissionInput> = {},
  createdBy: string | null = null,
): Promise<JobRecord> {
  const submission = jobSubmissionSchema.parse({
    instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'] },
    script: { inline: 'print(1)', filename: 'train.py' },
    ...input,
  });
  const id = newJobId();
  const now = isoNow();
  const script =
    'uri' in submission.script
      ? { uri: submission.script.uri, filename: submission.script.filename ?? submission.script.uri.split('/').pop()! }
      : submission.script;
  const spec: JobSpec = {
    ...submission,
    script,
    command: submission.command ?? `python3 ${script.filename}`,
    outputUri: submission.outputUri ?? `s3://${DEFAULT_BUCKET}/jobs/${id}/output/`,
  };
  const job = createJobRecord({ id, spec, name: submission.name ?? null, createdBy, metadata: submission.metadata ?? {}, now });
  await store.create(job, { at: now, type: 'status', stage: 'submit', message: 'Job submitted', data: { status: 'queued' } });
  return job;
}

/** Every BullMQ job of a queue for one of our jobs that has not run yet. */
export async function pendingFor(queues: StageQueues, queue: QueueName, jobId: string): Promise<Job[]> {
  const jobs = await queues[queue].getJobs(['waiting', 'delayed', 'prioritized', 'active', 'wait']);
  return jobs.filter((job) => job.data.jobId === jobId);
}

export const payloadOf = (jobId: string, step: Record<string, number | string | boolean> = {}) => ({ jobId, step });

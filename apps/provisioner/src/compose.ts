import {
  resolveTimings,
  startAppWorkers,
  startWorkerSet,
  type StageBinding,
  type TimingOverrides,
  type WorkerRuntime,
} from '@inno-train/workflow';
import { QUEUES } from '@inno-train/workflow-constants';
import { startCloudWatch } from './cloud-watch';
import { createSharedCloudView } from './cloud-view';
import type { ProvisionerEnv } from './env';
import type { ProvisionDeps } from './provision-deps';
import { provisionGaveUp, provisionStep } from './provision-step';
import { startReconciler } from './reconciler';
import { startRetention } from './retention';
import { teardownStep, type TeardownDeps } from './teardown-step';
import { startWebhooks } from './webhooks';

/** The provisioner app's queues and what runs for them. */
export function provisionerBindings(deps: ProvisionDeps): StageBinding[] {
  return [
    {
      queue: QUEUES.provisioning,
      handler: (payload, ctx) => provisionStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => provisionGaveUp(deps, payload.jobId, error),
    },
    {
      queue: QUEUES.teardown,
      handler: (payload, ctx) => teardownStep(deps, payload, ctx.logger),
      // Teardown never gives up quietly: its BullMQ job has many attempts; this logs the last one.
      onGiveUp: async (payload, error) => {
        await deps.store.appendEvent(payload.jobId, {
          type: 'error',
          stage: 'teardown',
          message: `Teardown failed, instance may still be running: ${error.message}`,
        });
      },
    },
  ];
}

/**
 * What compose reads of the env. Narrower than ProvisionerEnv on purpose: the Lambda key and the
 * SSH key path are the process's business (its main builds the clients from them), so the
 * all-in-one can compose a provisioner around the local provider, which has neither.
 */
export type ProvisionerComposeEnv = Pick<
  ProvisionerEnv,
  | 'INNO_NAMESPACE'
  | 'WORKER_CONCURRENCY'
  | 'SHUTDOWN_DEADLINE_MS'
  | 'STEP_LOCK_MS'
  | 'STEP_STALLED_CHECK_MS'
  | 'RECONCILE_EVERY_MS'
  | 'RECONCILE_GRACE_MS'
  | 'CLOUD_WATCH_MS'
  | 'CLOUD_LIST_MIN_INTERVAL_MS'
  | 'JOB_RETENTION_DAYS'
  | 'RETENTION_EVERY_MS'
  | 'WEBHOOK_ALLOW_HTTP'
  | 'WEBHOOK_ALLOW_PRIVATE_NETWORKS'
  | 'WEBHOOK_RETRY_SCHEDULE_MS'
> &
  TimingOverrides;

/** What a process builds from the outside world and hands in. */
export interface ProvisionerInfrastructure {
  /** Redis, queues, job store and logger (createWorkerRuntime); shared by every app of a process. */
  runtime: Pick<WorkerRuntime, 'redis' | 'prefix' | 'store' | 'queues' | 'logger'>;
  /** The cloud: Lambda (paced through Redis) or the local provider. */
  lambda: ProvisionDeps['lambda'];
  /** The SSH key name instances are launched with (already registered with the cloud). */
  sshKeyName: string;
  shell: ProvisionDeps['shell'];
  identity: ProvisionDeps['identity'];
  /** The process's metrics (telemetry's hooks); unset: none counted. */
  hooks?: ProvisionerHooks;
}

/** What the provisioner counts: settled jobs' cost, orphans the reconciler ended, webhook deliveries. */
export interface ProvisionerHooks {
  onJobSettled(usd: number): void;
  onOrphanTerminated(reason: string): void;
  onWebhookDelivery(result: string): void;
}

export interface ProvisionerService {
  start(): Promise<void>;
  /** True while its step workers run (for /readyz). */
  running(): boolean;
  /** Stops taking steps and waits up to `deadlineMs` (default SHUTDOWN_DEADLINE_MS) for those in flight. */
  close(deadlineMs?: number): Promise<void>;
}

type Closable = { close(): Promise<void> };

/**
 * The provisioner: provisioning and teardown workers, the orphan reconciler and the cloud watch.
 * Reads no process.env and installs no signal handlers: its main and the all-in-one do that.
 */
export function compose(env: ProvisionerComposeEnv, infrastructure: ProvisionerInfrastructure): ProvisionerService {
  const { runtime } = infrastructure;
  const cloud = createSharedCloudView({
    cloud: infrastructure.lambda,
    redis: runtime.redis,
    prefix: runtime.prefix,
    minIntervalMs: env.CLOUD_LIST_MIN_INTERVAL_MS,
  });
  const { hooks } = infrastructure;
  const deps: ProvisionDeps & Pick<TeardownDeps, 'onSettled'> = {
    store: runtime.store,
    queues: runtime.queues,
    lambda: infrastructure.lambda,
    cloud,
    shell: infrastructure.shell,
    identity: infrastructure.identity,
    sshKeyName: infrastructure.sshKeyName,
    timings: resolveTimings(env),
    namespace: env.INNO_NAMESPACE,
    ...(hooks ? { onSettled: (usd: number) => hooks.onJobSettled(usd) } : {}),
  };
  const schedule = { ...deps, connection: runtime.redis, prefix: runtime.prefix, logger: runtime.logger };
  let workers: ReturnType<typeof startWorkerSet> | undefined;
  const schedules: Closable[] = [];
  return {
    async start() {
      const bindings = provisionerBindings(deps);
      // Logs 'provisioner started': tests wait for it (the queues are consumed (and the SSH key was registered before compose)).
      workers = startAppWorkers('provisioner', env, runtime, deps, bindings);
      // The reconciler acts on what it lists (terminates), so it lists fresh; the watch may share a listing.
      schedules.push(
        await startReconciler({
          ...schedule,
          everyMs: env.RECONCILE_EVERY_MS,
          graceMs: env.RECONCILE_GRACE_MS,
          maxAgeMs: 0,
          ...(hooks ? { onTerminated: (reason: string) => hooks.onOrphanTerminated(reason) } : {}),
        }),
      );
      schedules.push(await startCloudWatch({ ...schedule, everyMs: env.CLOUD_WATCH_MS, maxAgeMs: env.CLOUD_WATCH_MS / 2 }));
      const retentionMs = Math.round(env.JOB_RETENTION_DAYS * 24 * 3600_000);
      schedules.push(await startRetention({ ...schedule, everyMs: env.RETENTION_EVERY_MS, retentionMs }));
      schedules.push(await startWebhooks(env, runtime, hooks ? (result) => hooks.onWebhookDelivery(result) : undefined));
    },
    running() {
      return workers?.running() ?? false;
    },
    async close(deadlineMs = env.SHUTDOWN_DEADLINE_MS) {
      // In parallel: the schedules and the step workers are independent, and one deadline covers all.
      await Promise.all([...schedules.map((s) => s.close()), workers?.close(deadlineMs)]);
    },
  };
}

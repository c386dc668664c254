import type { WorkerRuntime } from '@inno-train/workflow';
import { createWebhookStore, startWebhookService, type WebhookDeliveryResult } from '@inno-train/webhooks';
import type { ProvisionerEnv } from './env';

type WebhookEnv = Pick<
  ProvisionerEnv,
  | 'INNO_NAMESPACE'
  | 'WEBHOOK_ALLOW_HTTP'
  | 'WEBHOOK_ALLOW_PRIVATE_NETWORKS'
  | 'WEBHOOK_RETRY_SCHEDULE_MS'
  | 'STEP_LOCK_MS'
  | 'STEP_STALLED_CHECK_MS'
>;

/**
 * The webhook dispatcher (reads the job store's outbox) and delivery worker, in every provisioner
 * replica: the outbox's consumer group and BullMQ share the work between them.
 */
export async function startWebhooks(
  env: WebhookEnv,
  runtime: Pick<WorkerRuntime, 'redis' | 'prefix' | 'store' | 'logger'>,
  onDelivery?: (result: WebhookDeliveryResult) => void,
) {
  const service = startWebhookService({
    redis: runtime.redis,
    prefix: runtime.prefix,
    namespace: env.INNO_NAMESPACE,
    jobs: runtime.store,
    webhooks: createWebhookStore({ redis: runtime.redis, namespace: env.INNO_NAMESPACE }),
    logger: runtime.logger,
    guard: { allowHttp: env.WEBHOOK_ALLOW_HTTP, allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS },
    retryScheduleMs: env.WEBHOOK_RETRY_SCHEDULE_MS,
    // As the stage steps: a delivery (10 s at most) whose worker died is sent again within about the sum;
    // an outbox entry a dead replica had read is taken over after the same lock time.
    lockDurationMs: env.STEP_LOCK_MS,
    stalledIntervalMs: env.STEP_STALLED_CHECK_MS,
    claimIdleMs: env.STEP_LOCK_MS,
    onDelivery,
  });
  await service.start();
  return service;
}

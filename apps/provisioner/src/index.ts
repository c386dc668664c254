import type { StageBinding } from '@inno-train/workflow';
import { QUEUES } from '@inno-train/workflow-constants';
import type { ProvisionDeps } from './provision-deps';
import { provisionGaveUp, provisionStep } from './provision-step';
import { teardownStep } from './teardown-step';

export { provisionStep } from './provision-step';
export type { ProvisionDeps } from './provision-deps';
export { teardownStep } from './teardown-step';
export { ensureSshKeyName, publicKeyOf, derivedKeyName } from './ssh-key';
export * from './ports';

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
        await deps.store.appendEvent(payload.jobId, { type: 'error', stage: 'teardown', message: `Teardown failed, instance may still be running: ${error.message}` });
      },
    },
  ];
}
export { watchCloudOnce, startCloudWatch, downStatus, CLOUD_WATCH_QUEUE, type CloudWatchReport, type CloudWatchDeps } from './cloud-watch';
export { setUpLambda, type LambdaSetupConfig } from './lambda-setup';
export { reconcileOnce, startReconciler, RECONCILE_QUEUE, type ReconcileReport, type ReconcilerDeps } from './reconciler';

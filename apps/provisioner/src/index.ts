export {
  compose,
  provisionerBindings,
  type ProvisionerComposeEnv,
  type ProvisionerHooks,
  type ProvisionerInfrastructure,
  type ProvisionerService,
} from './compose';
export { parseProvisionerEnv, provisionerEnvShape, type ProvisionerEnv } from './env';
export { provisionStep } from './provision-step';
export type { ProvisionDeps } from './provision-deps';
export { teardownStep } from './teardown-step';
export { ensureSshKeyName, publicKeyOf, derivedKeyName } from './ssh-key';
export * from './ports';
export { watchCloudOnce, startCloudWatch, downStatus, CLOUD_WATCH_QUEUE, type CloudWatchReport, type CloudWatchDeps } from './cloud-watch';
export { setUpLambda, type LambdaSetupConfig } from './lambda-setup';
export {
  createSharedCloudView,
  directCloudView,
  INSTANCE_TYPES_MAX_AGE_MS,
  INSTANCE_TYPES_REFRESH_MS,
  type CloudView,
  type CloudListing,
  type SharedCloudViewOptions,
} from './cloud-view';
export { reconcileOnce, startReconciler, RECONCILE_QUEUE, type ReconcileReport, type ReconcilerDeps } from './reconciler';

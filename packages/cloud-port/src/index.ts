export type { CloudInstance, CloudInstanceTypeEntry, CloudLaunchRequest, CloudProvider, InstanceTag } from './provider';
export { ATTEMPT_TAG, instanceName, JOB_TAG, jobIdOfInstance, LAUNCHED_AT_TAG, NAMESPACE_TAG, tagOf } from './tags';

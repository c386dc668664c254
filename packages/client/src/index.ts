export { createClient, type CheckpointsApi, type ClientOptions, type InnoTrainClient, type JobsApi, type WebhooksApi } from './client';
export {
  InnoTrainConnectionError,
  InnoTrainError,
  InnoTrainWaitTimeoutError,
  type ClientErrorCode,
  type ErrorDetail,
  type InnoTrainErrorCode,
} from './errors';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry';
export * from './types';

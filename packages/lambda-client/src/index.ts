export { createLambdaClient } from './client';
export type { LambdaClient, LambdaClientOptions, LaunchRequest, TerminateResult } from './client';
export type { LambdaClientLogger, LambdaRequestRecord } from './transport';
export { parseRetryAfter } from './transport';
export {
  LambdaApiError,
  LAMBDA_ERROR_CODES,
  isAuthError,
  isInsufficientCapacity,
  isNotFound,
  isQuotaExceeded,
  isRateLimited,
  isRetryableResponse,
} from './errors';
export type { LambdaApiErrorOptions } from './errors';
export { createLocalPacer, noPacer, findSlot, fitsWindow, DOCUMENTED_PACER_LIMITS } from './pacer';
export type { LocalPacer, Pacer, PacerKind, PacerLimits } from './pacer';
export { createRedisPacer } from './redis-pacer';
export type { RedisPacer, RedisPacerOptions, Reservation } from './redis-pacer';
export {
  INSTANCE_STATUSES,
  InstanceSchema,
  InstanceTypeSchema,
  InstanceTypesItemSchema,
  InstanceTypesMapSchema,
  RegionSchema,
  SshKeySchema,
  TagSchema,
} from './schemas';
export type {
  Instance,
  InstanceStatus,
  InstanceType,
  InstanceTypeSpecs,
  InstanceTypesItem,
  InstanceTypesMap,
  KnownInstanceStatus,
  Region,
  SshKey,
  Tag,
} from './schemas';

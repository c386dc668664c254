export { startLambdaSimulator, initialFaults } from './server';
export type { LambdaSimulator, SimulatorState } from './server';
export { createMemoryHostBackend } from './memory-host';
export type { MemoryHost, MemoryHostBackend } from './memory-host';
export { DEFAULT_INSTANCE_TYPES, PUBLIC_REGION_CODES } from './catalog';
export { DOCUMENTED_RATE_LIMITS } from './rate-limiter';
export { generateSshKeyPair } from './ssh-keys';
export type { SimSshKey } from './ssh-keys';
export type {
  HostBackend,
  HostStartRequest,
  InstanceStatus,
  LedgerEntry,
  SimCounters,
  SimFaults,
  SimInstanceSnapshot,
  SimInstanceType,
  SimRateLimits,
  SimulatorOptions,
} from './types';

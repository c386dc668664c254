/** Job records as the workers hold them, for rendering host scripts outside the service. */
import type { JobRecord } from '@inno-train/schemas';

let jobCounter = 0;

/** A fresh job id of the service's shape (23 characters), unique within the process. */
export function newJobId(): string {
  jobCounter += 1;
  return `j${Date.now().toString(36).padStart(10, '0')}${jobCounter.toString(36).padStart(12, '0')}`.slice(0, 23);
}

/**
 * A job in training with the given spec fields over a minimal valid spec. `retiredInstances` and
 * `hostRestarts` hold the values a record read from the store defaults to (the host scripts read
 * only `id` and `spec`).
 */
export function jobRecord(id: string, spec: Partial<JobRecord['spec']>): JobRecord {
  return {
    id,
    name: null,
    status: 'training',
    createdAt: '',
    updatedAt: '',
    startedAt: null,
    finishedAt: null,
    spec: {
      instance: { type: 'gpu_1x_a10' },
      inputs: {},
      script: { inline: 'x', filename: 'train.py' },
      command: 'true',
      outputUri: 's3://b/o/',
      ...spec,
    },
    instance: null,
    progress: null,
    outputs: [],
    error: null,
    pendingError: null,
    cancelRequested: false,
    createdBy: null,
    training: { startedAt: null, exitCode: null },
    metadata: {},
    retiredInstances: [],
    hostRestarts: 0,
  };
}

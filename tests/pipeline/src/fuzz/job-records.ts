/** Job records as the workers hold them, for rendering host scripts outside the service. */
import { createJobRecord, type JobRecord } from '@inno-train/schemas';

let jobCounter = 0;

/** A fresh job id of the service's shape (23 characters), unique within the process. */
export function newJobId(): string {
  jobCounter += 1;
  return `j${Date.now().toString(36).padStart(10, '0')}${jobCounter.toString(36).padStart(12, '0')}`.slice(0, 23);
}

/**
 * A job in training with the given spec fields over a minimal valid spec (the host scripts read
 * only `id` and `spec`).
 */
export function jobRecord(id: string, spec: Partial<JobRecord['spec']>): JobRecord {
  const base = {
    instance: { type: 'gpu_1x_a10' },
    inputs: {},
    script: { inline: 'x', filename: 'train.py' },
    command: 'true',
    outputUri: 's3://b/o/',
  };
  return createJobRecord({ id, spec: { ...base, ...spec }, now: '' }, { status: 'training' });
}

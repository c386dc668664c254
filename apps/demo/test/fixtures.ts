import type { Job } from '@inno-train/client';

export const JOB_ID = 'j0123456789abcdefghijklm';

/** A job as the API shows it (the client's `Job`), queued unless `overrides` say otherwise. */
export function publicJob(overrides: Partial<Job> = {}): Job {
  return {
    id: JOB_ID,
    name: 'demo-mlp',
    status: 'queued',
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    settledAt: null,
    createdBy: 'demo',
    retryOf: null,
    instance: null,
    retiredInstances: [],
    cost: { instanceSeconds: 0, usd: 0, final: false },
    progress: null,
    transfer: null,
    training: { startedAt: null, exitCode: null },
    outputUri: `s3://inno-train/jobs/${JOB_ID}/output/`,
    logArchive: null,
    checkpoints: { count: 0, latest: null, resumeFrom: null, restored: null },
    restarts: { hostLost: 0, preempted: 0 },
    outputs: [],
    error: null,
    cancelRequested: false,
    request: {
      instance: { type: 'gpu_1x_a10' },
      inputs: {},
      script: { filename: 'train.py' },
      command: 'python3 train.py',
      envKeys: [],
      maxRuntimeSeconds: null,
      maxCostUsd: null,
    },
    metadata: {},
    ...overrides,
  };
}

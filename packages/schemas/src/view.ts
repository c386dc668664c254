import { jobCost } from './cost';
import type { JobRecord } from './record';

/** The job as the REST API shows it. Inline scripts and env values stay out of listings. */
export function toPublicJob(job: JobRecord) {
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    instance: job.instance,
    retiredInstances: job.retiredInstances,
    cost: jobCost(job),
    progress: job.progress,
    outputUri: job.spec.outputUri,
    outputs: job.outputs,
    error: job.error,
    cancelRequested: job.cancelRequested,
    /** The tenant that owns the job (its key's name). */
    createdBy: job.createdBy,
    request: {
      instance: job.spec.instance,
      inputs: job.spec.inputs,
      script:
        'uri' in job.spec.script
          ? { uri: job.spec.script.uri, filename: job.spec.script.filename }
          : { filename: job.spec.script.filename },
      command: job.spec.command,
      envKeys: Object.keys(job.spec.env ?? {}),
      maxRuntimeSeconds: job.spec.maxRuntimeSeconds ?? null,
      maxCostUsd: job.spec.maxCostUsd ?? null,
    },
    metadata: job.metadata,
  };
}

export type PublicJob = ReturnType<typeof toPublicJob>;

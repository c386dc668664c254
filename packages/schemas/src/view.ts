/**
 * The job as the REST API shows it: a declared schema (the OpenAPI document is generated from it),
 * and the one function that builds it from a record. Internal bookkeeping (host key pins, boot
 * deadlines, terminate times, retire reasons) stays in the record; inline scripts and env values
 * stay out of every view.
 */
import { JOB_STATUSES, STAGE_NAMES } from '@inno-train/workflow-constants';
import { z } from 'zod';
import { latestCheckpoint } from './checkpoints';
import { jobCost } from './cost';
import { jobErrorCodeSchema } from './error-codes';
import { instancesOf, TRANSFER_STAGES, type InstanceInfo, type JobRecord, type TransferProgress } from './record';

const time = z.string().describe('ISO 8601 time with offset');

export const publicInstanceSchema = z.object({
  id: z.string(),
  type: z.string(),
  region: z.string(),
  ip: z.string().nullable(),
  status: z.string().describe("the cloud's last reported status (booting, active, unhealthy, terminated, ...)"),
  launchedAt: time,
  terminatedAt: time.nullable().describe('when the cloud confirmed the instance terminated'),
  priceCentsPerHour: z.number().nullable(),
});

export const publicJobSchema = z.object({
  id: z.string().regex(/^j[0-9a-z]{22}$/),
  name: z.string().nullable(),
  status: z.enum(JOB_STATUSES),
  createdAt: time,
  updatedAt: time,
  startedAt: time.nullable(),
  finishedAt: time.nullable().describe('when the job reached succeeded, failed or cancelled'),
  settledAt: time
    .nullable()
    .describe('when every instance of the finished job was confirmed terminated: nothing bills any more and cost.final is true'),
  createdBy: z.string().nullable().describe('the tenant (API key name) that owns the job'),
  retryOf: z
    .string()
    .regex(/^j[0-9a-z]{22}$/)
    .nullable()
    .describe('the job this one re-runs (POST /v1/jobs/{id}/retry), or null'),
  instance: publicInstanceSchema.nullable(),
  retiredInstances: z.array(publicInstanceSchema).describe('instances given back before the job ended (bad boots, lost hosts)'),
  cost: z.object({
    instanceSeconds: z.number(),
    usd: z.number(),
    final: z.boolean().describe('true once the job is settled'),
  }),
  progress: z.record(z.string(), z.number()).nullable().describe('the latest metrics line the training printed'),
  transfer: z
    .object({
      stage: z.enum(TRANSFER_STAGES).describe('the status the transfer ran in'),
      bytesDone: z.number().int().min(0),
      bytesTotal: z.number().int().min(0).describe('0 while not yet known'),
      bytesPerSecond: z.number().min(0).describe('the recent rate in bytes per second; 0 when unknown'),
      filesDone: z.number().int().min(0),
      files: z.number().int().min(0),
      updatedAt: time.describe('when these figures were read from the host'),
    })
    .nullable()
    .describe(
      'how far the copy between S3 and the instance has got: the current one while the job is in staging_in or staging_out (stage equals status), else the last one; null until a transfer reports',
    ),
  training: z.object({ startedAt: time.nullable(), exitCode: z.number().int().nullable() }),
  outputUri: z.string(),
  logArchive: z
    .object({ uri: z.string(), size: z.number().int().min(0) })
    .nullable()
    .describe('the whole training log in S3, once stage-out archived it (GET /v1/jobs/{id}/logs serves it from there)'),
  checkpoints: z
    .object({
      count: z.number().int().min(0),
      latest: z.object({ name: z.string(), step: z.number().int().nullable(), at: time }).nullable(),
      resumeFrom: z
        .object({ jobId: z.string(), name: z.string(), step: z.number().int().nullable() })
        .nullable()
        .describe("the other job's checkpoint this job was submitted to start from (resumeFrom), or null"),
      restored: z
        .object({ name: z.string(), step: z.number().int().nullable() })
        .nullable()
        .describe(
          "the checkpoint stage-in restored on the current instance (RESUME_FROM points at it): the job's own after a restart, or resumeFrom's; null when it started fresh",
        ),
    })
    .describe('the checkpoints synced to S3 so far, and the most recent one (GET /v1/jobs/{id}/checkpoints lists them)'),
  restarts: z
    .object({
      hostLost: z.number().int().min(0).describe('times the job started over on a new instance after losing its host (retry.onHostLost)'),
      preempted: z.number().int().min(0).describe('times it started over because the cloud preempted its instance (retry.onPreempted)'),
    })
    .describe('restarts on a new instance so far; each resumes from the latest synced checkpoint'),
  outputs: z
    .array(z.object({ key: z.string(), size: z.number() }))
    .describe('the S3 keys uploaded (GET /v1/jobs/{id}/outputs pages them with paths and download links)'),
  error: z.object({ code: jobErrorCodeSchema, message: z.string(), stage: z.enum(STAGE_NAMES) }).nullable(),
  cancelRequested: z.boolean(),
  request: z.object({
    instance: z.record(z.string(), z.unknown()),
    inputs: z.record(z.string(), z.string()),
    script: z.object({ uri: z.string().optional(), filename: z.string() }),
    command: z.string(),
    envKeys: z.array(z.string()),
    maxRuntimeSeconds: z.number().nullable(),
    maxCostUsd: z.number().nullable(),
  }),
  metadata: z.record(z.string(), z.string()),
});

export type PublicJob = z.infer<typeof publicJobSchema>;
export type PublicInstance = z.infer<typeof publicInstanceSchema>;

function publicInstance(instance: InstanceInfo): PublicInstance {
  return {
    id: instance.id,
    type: instance.type,
    region: instance.region,
    ip: instance.ip,
    status: instance.status,
    launchedAt: instance.launchedAt,
    terminatedAt: instance.terminatedAt,
    priceCentsPerHour: instance.priceCentsPerHour,
  };
}

/**
 * When the finished job settled: teardown found every instance confirmed terminated, including any
 * launched but never recorded (so a cancel during a launch is not called settled too early). An
 * instance recorded after that unsettles it until teardown confirms that one too. Records from
 * before teardown wrote `settledAt` are judged by their instances alone.
 */
export function settledAt(
  job: Pick<JobRecord, 'status' | 'finishedAt' | 'settledAt' | 'instance' | 'retiredInstances'> & { launchInFlightSince?: string | null },
): string | null {
  if (job.finishedAt === null || !['succeeded', 'failed', 'cancelled'].includes(job.status)) return null;
  // A launch whose answer is not saved yet may have made an instance nobody has given back.
  if (job.launchInFlightSince) return null;
  const instances = instancesOf(job);
  if (instances.some((instance) => !instance.terminatedAt)) return null;
  if (job.settledAt !== undefined) return job.settledAt;
  let latest = job.finishedAt;
  for (const instance of instances) if (Date.parse(instance.terminatedAt!) > Date.parse(latest)) latest = instance.terminatedAt!;
  return latest;
}

function publicTransfer(transfer: TransferProgress): NonNullable<PublicJob['transfer']> {
  return {
    stage: transfer.stage,
    bytesDone: transfer.bytesDone,
    bytesTotal: transfer.bytesTotal,
    bytesPerSecond: transfer.bytesPerSecond,
    filesDone: transfer.filesDone,
    files: transfer.files,
    updatedAt: transfer.updatedAt,
  };
}

function checkpointSummary(job: JobRecord): PublicJob['checkpoints'] {
  const latest = latestCheckpoint(job.checkpoints);
  const source = job.resumeSource;
  const restored = job.resumedFrom;
  return {
    count: job.checkpoints.length,
    latest: latest ? { name: latest.name, step: latest.step, at: latest.at } : null,
    resumeFrom: source ? { jobId: source.jobId, name: source.name, step: source.step } : null,
    restored: restored ? { name: restored.name, step: restored.step } : null,
  };
}

export function toPublicJob(job: JobRecord): PublicJob {
  const settled = settledAt(job);
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    settledAt: settled,
    createdBy: job.createdBy,
    retryOf: job.retryOf,
    instance: job.instance ? publicInstance(job.instance) : null,
    retiredInstances: job.retiredInstances.map(publicInstance),
    cost: { ...jobCost(job), final: settled !== null },
    progress: (job.progress as Record<string, number> | null) ?? null,
    transfer: job.transfer ? publicTransfer(job.transfer) : null,
    training: { startedAt: job.training.startedAt, exitCode: job.training.exitCode },
    outputUri: job.spec.outputUri,
    logArchive: job.logArchive?.archivedAt ? { uri: job.logArchive.uri, size: job.logArchive.size } : null,
    checkpoints: checkpointSummary(job),
    restarts: { hostLost: job.hostRestarts - (job.preemptions ?? 0), preempted: job.preemptions ?? 0 },
    outputs: job.outputs.map((o) => ({ key: o.key, size: o.size })),
    error: job.error,
    cancelRequested: job.cancelRequested,
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

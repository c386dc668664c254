import type { JobStatus, Stage } from '@inno-train/workflow-constants';
import type { JobErrorCode } from './error-codes';
import type { JobSubmission } from './submission';

export interface JobError {
  code: JobErrorCode;
  message: string;
  stage: Stage;
}

export interface InstanceInfo {
  id: string;
  type: string;
  region: string;
  ip: string | null;
  status: string;
  launchedAt: string;
  terminatedAt: string | null;
  priceCentsPerHour: number | null;
  /** Give up on this instance if it is not ready by then (depends on its size). */
  bootDeadlineAt?: string;
  /** SHA-256 of the host key seen at the first SSH connection; every later connection must match. */
  hostKeyFingerprint?: string;
  /** When a terminate call for it was first accepted: billing stops there. */
  terminateRequestedAt?: string;
  /** Why it was given back before the job ended (unhealthy, never answered SSH, ...). */
  retiredReason?: string;
}

/** The latest metrics record printed by the training script. */
export interface Progress {
  step: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  [metric: string]: number | undefined;
}

export interface OutputObject {
  key: string;
  size: number;
}

/** What the job asked for, after defaults were applied at submit. */
export interface JobSpec extends Omit<JobSubmission, 'script' | 'outputUri'> {
  script: { inline: string; filename: string } | { uri: string; filename: string };
  command: string;
  outputUri: string;
}

/** The job record: the source of truth for a job, kept in the job store. */
export interface JobRecord {
  id: string;
  name: string | null;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  spec: JobSpec;
  instance: InstanceInfo | null;
  /** Instances given up during provisioning (unhealthy, preempted, no SSH): torn down and billed too. */
  retiredInstances?: InstanceInfo[];
  /** Launches made for this job so far. */
  launchAttempts?: number;
  /** How many times the job started over on a new instance after losing its host. */
  hostRestarts?: number;
  /** The stage-out plan (keys, sizes, multipart upload ids), fixed once so a rerun reuses its uploads. */
  stageOutPlan?: { relPath: string; key: string; size: number; uploadId?: string }[];
  progress: Progress | null;
  outputs: OutputObject[];
  error: JobError | null;
  /** A failure seen during training, reported once partial outputs have been staged out. */
  pendingError: JobError | null;
  cancelRequested: boolean;
  /** Which API key created the job (an id, never the key). */
  createdBy: string | null;
  training: { startedAt: string | null; exitCode: number | null };
  metadata: Record<string, string>;
}

export interface JobEvent {
  at: string;
  type: string;
  stage: Stage;
  message: string;
  data?: Record<string, unknown>;
}

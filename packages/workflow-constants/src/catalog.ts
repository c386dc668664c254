/**
 * The workflow, declared once: every stage (its status, queue, display name, the app that runs it,
 * the schema of its step state, attempts and backoff, where it goes on success, the code it gives
 * up with) and every transition between statuses. Handlers name a transition; they never write
 * `from`, `to` or a queue themselves. The state diagram in docs/architecture.md is generated from
 * this file (a test fails when it is stale).
 */
import { z } from 'zod';
import type { JobErrorCode } from './error-codes';
import type { JobStatus } from './statuses';

/** Bookkeeping of a stage waiting on a host that does not answer (see workflow's host-health). */
const hostTrouble = {
  unreachableSince: z.number().optional(),
  goneChecks: z.number().int().min(0).optional(),
  /** Since when a host found lost waits for the cloud to say whether it was preempted. */
  lostSince: z.number().optional(),
};

/** When a detached transfer script was started, and what it moves. */
const transferRun = {
  phase: z.literal('running').optional(),
  startedAt: z.number().optional(),
  at: z.string().optional(),
  restarts: z.number().int().min(0).optional(),
  ...hostTrouble,
};

/**
 * Each stage's step state: what one step leaves for the next (a delayed re-check). Unknown keys
 * are dropped, so a step state written by an older version still parses.
 */
export const STEP_SCHEMAS = {
  provisioning: z.object({
    waitingForCapacity: z.boolean().optional(),
    sshMisses: z.number().int().min(0).optional(),
    /** The place in line last announced while the job waits for one of its tenant's slots. */
    waitingForSlot: z.number().int().min(1).optional(),
  }),
  staging_in: z.object({ ...transferRun, files: z.number().int().min(0).optional(), bytes: z.number().min(0).optional() }),
  training: z.object({
    offset: z.number().int().min(0).optional(),
    killing: z.enum(['max_runtime_exceeded', 'max_cost_exceeded', 'budget_exhausted']).optional(),
    ...hostTrouble,
  }),
  staging_out: z.object({ ...transferRun }),
  teardown: z.object({
    reason: z.string().optional(),
    polls: z.number().int().min(0).optional(),
    killed: z.boolean().optional(),
    alerted: z.boolean().optional(),
  }),
} as const;

export type StageName = keyof typeof STEP_SCHEMAS;
export type StepState<S extends StageName> = z.infer<(typeof STEP_SCHEMAS)[S]>;

export interface StageDefinition {
  /** The job status while this stage has the job (teardown runs after the job's end: none). */
  status: JobStatus | null;
  /** The BullMQ queue that carries its steps (these names are in Redis: never rename one). */
  queue: string;
  display: string;
  app: 'provisioner' | 'transfer' | 'monitor';
  /** BullMQ attempts of one step that fails, and the first backoff (exponential). */
  attempts: number;
  backoffMs: number;
  /** The status the job moves to when the stage has done its work. */
  next: JobStatus | null;
  /** The job error code when a step fails for good (out of attempts, or not retryable). */
  giveUp: JobErrorCode | null;
  /** The schema of its step state (STEP_SCHEMAS): the step worker parses it at every dequeue. */
  step: z.ZodType;
}

export const STAGES = {
  provisioning: {
    status: 'provisioning',
    queue: 'provision',
    display: 'Provisioning',
    app: 'provisioner',
    attempts: 5,
    backoffMs: 2000,
    next: 'staging_in',
    giveUp: 'provision_failed',
    step: STEP_SCHEMAS.provisioning,
  },
  staging_in: {
    status: 'staging_in',
    queue: 'stage-in',
    display: 'Staging in',
    app: 'transfer',
    attempts: 5,
    backoffMs: 2000,
    next: 'training',
    giveUp: 'input_transfer_failed',
    step: STEP_SCHEMAS.staging_in,
  },
  training: {
    status: 'training',
    queue: 'train',
    display: 'Training',
    app: 'monitor',
    attempts: 5,
    backoffMs: 2000,
    next: 'staging_out',
    giveUp: 'training_error',
    step: STEP_SCHEMAS.training,
  },
  staging_out: {
    status: 'staging_out',
    queue: 'stage-out',
    display: 'Staging out',
    app: 'transfer',
    attempts: 5,
    backoffMs: 2000,
    next: 'succeeded',
    giveUp: 'output_transfer_failed',
    step: STEP_SCHEMAS.staging_out,
  },
  // Teardown gives instances back after every end; it never gives up (an alert is raised instead).
  teardown: {
    status: null,
    queue: 'teardown',
    display: 'Teardown',
    app: 'provisioner',
    attempts: 1000,
    backoffMs: 2000,
    next: null,
    giveUp: null,
    step: STEP_SCHEMAS.teardown,
  },
} as const satisfies Record<StageName, StageDefinition>;

export const STAGE_NAMES_IN_ORDER = Object.keys(STAGES) as StageName[];

/** The running statuses, in lifecycle order. */
export const RUNNING_STATUSES = ['queued', 'provisioning', 'staging_in', 'training', 'staging_out'] as const satisfies readonly JobStatus[];

/** The running statuses in which a stage works on the job's host (SSH): host trouble applies to these. */
export const HOST_STATUSES = ['staging_in', 'training', 'staging_out'] as const satisfies readonly JobStatus[];

/**
 * Every transition a job can make. `by` says who makes it (a stage, the API, the reconciler). A
 * transition not declared here cannot be made: the workflow's executor refuses it.
 */
export const TRANSITIONS = {
  start: { from: ['queued'], to: 'provisioning', by: 'provisioning', label: 'picked up' },
  instance_ready: { from: ['provisioning'], to: 'staging_in', by: 'provisioning', label: 'active, SSH, GPUs' },
  inputs_ready: { from: ['staging_in'], to: 'training', by: 'staging_in', label: 'inputs on the host' },
  training_ended: { from: ['training'], to: 'staging_out', by: 'training', label: 'command ended or was stopped' },
  outputs_uploaded: { from: ['staging_out'], to: 'succeeded', by: 'staging_out', label: 'outputs in S3' },
  outputs_uploaded_after_failure: { from: ['staging_out'], to: 'failed', by: 'staging_out', label: 'outputs in S3, training had failed' },
  host_lost_restart: {
    from: HOST_STATUSES,
    to: 'provisioning',
    by: 'any stage',
    label: 'host lost or preempted, retry.onHostLost / onPreempted',
  },
  fail: { from: RUNNING_STATUSES, to: 'failed', by: 'any stage', label: 'error' },
  cancel: { from: RUNNING_STATUSES, to: 'cancelled', by: 'api', label: 'POST cancel' },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: JobStatus; by: string; label: string }>;

export type TransitionName = keyof typeof TRANSITIONS;

/** The queue of a stage. */
export function queueOf(stage: StageName): string {
  return STAGES[stage].queue;
}

/** The stage whose queue this is; throws for a queue the catalog does not know. */
export function stageOfQueue(queue: string): StageName {
  const found = STAGE_NAMES_IN_ORDER.find((stage) => STAGES[stage].queue === queue);
  if (!found) throw new Error(`No stage uses queue ${queue}`);
  return found;
}

/** The stage that carries a job in a running status (`queued` belongs to provisioning). */
export function stageOfStatus(status: JobStatus): StageName | null {
  if (status === 'queued') return 'provisioning';
  return STAGE_NAMES_IN_ORDER.find((stage) => STAGES[stage].status === status) ?? null;
}

/** Parses a step state read from a BullMQ job: `unknown` until the stage's schema says otherwise. */
export function parseStepState<S extends StageName>(stage: S, raw: unknown): StepState<S> {
  return STEP_SCHEMAS[stage].parse(raw ?? {}) as StepState<S>;
}

/** The state diagram (mermaid), generated from the transitions: docs/architecture.md embeds it. */
export function stateDiagram(): string {
  const lines = ['stateDiagram-v2', '  [*] --> queued: POST /v1/jobs'];
  for (const [name, transition] of Object.entries(TRANSITIONS)) {
    for (const from of transition.from) lines.push(`  ${from} --> ${transition.to}: ${name} (${transition.label})`);
  }
  for (const status of ['succeeded', 'failed', 'cancelled']) lines.push(`  ${status} --> [*]: teardown terminates every instance`);
  return lines.join('\n');
}

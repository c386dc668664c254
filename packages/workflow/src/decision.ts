/**
 * What a stage step decided, in the terms the workflow acts on, and the one executor that applies
 * it. Stages observe (store, cloud, SSH, S3), decide in pure functions of their own, and hand the
 * outcome here: a declared transition (compare-and-set with its event in one write, the next stage
 * queued, deduplicated), a failure with a closed-set code (teardown follows), or a wait.
 */
import type { JobErrorCode, JobRecord } from '@inno-train/schemas';
import type { Stage, StagePayload, TransitionName } from '@inno-train/workflow-constants';
import type { StepOutcome } from './step-worker';
import { advance, failJob, type WorkflowDeps } from './transitions';

export type Decision =
  | { kind: 'advance'; transition: TransitionName; message: string; patch?: (job: JobRecord) => void }
  | { kind: 'fail'; code: JobErrorCode; message: string }
  | { kind: 'wait'; delayMs: number; step: StagePayload['step'] }
  | { kind: 'done' };

export async function applyDecision(deps: WorkflowDeps, jobId: string, stage: Stage, decision: Decision): Promise<StepOutcome> {
  switch (decision.kind) {
    case 'advance':
      await advance(deps, jobId, {
        transition: decision.transition,
        stage,
        message: decision.message,
        ...(decision.patch ? { patch: decision.patch } : {}),
      });
      return { kind: 'done' };
    case 'fail':
      await failJob(deps, jobId, { code: decision.code, message: decision.message, stage });
      return { kind: 'done' };
    case 'wait':
      return { kind: 'wait', delayMs: decision.delayMs, step: decision.step };
    case 'done':
      return { kind: 'done' };
  }
}

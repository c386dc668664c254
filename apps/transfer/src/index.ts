import { failJob, jobError, type StageBinding } from '@inno-train/workflow';
import { QUEUES, STAGES } from '@inno-train/workflow-constants';
import { stageInStep, type TransferDeps } from './stage-in';
import { stageOutStep } from './stage-out';

export { stageInStep, type TransferDeps } from './stage-in';
export { stageOutStep } from './stage-out';

/** The transfer app's queues and what runs for them. */
export function transferBindings(deps: TransferDeps): StageBinding[] {
  return [
    {
      queue: QUEUES.staging_in,
      handler: (payload, ctx) => stageInStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => failJob(deps, payload.jobId, jobError('staging_in', error, STAGES.staging_in.giveUp)),
    },
    {
      queue: QUEUES.staging_out,
      handler: (payload, ctx) => stageOutStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => failJob(deps, payload.jobId, jobError('staging_out', error, STAGES.staging_out.giveUp)),
    },
  ];
}

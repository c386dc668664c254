import { failJob, jobError, type StageBinding } from '@inno-train/workflow';
import { QUEUES, STAGES } from '@inno-train/workflow-constants';
import { trainStep, type MonitorDeps } from './train-step';

export { trainStep, type MonitorDeps } from './train-step';
export { latestProgress } from './metrics';
export { renderRunScript } from './host-commands';

/** The monitor app's queues and what runs for them. */
export function monitorBindings(deps: MonitorDeps): StageBinding[] {
  return [
    {
      queue: QUEUES.training,
      handler: (payload, ctx) => trainStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => failJob(deps, payload.jobId, jobError('training', error, STAGES.training.giveUp)),
    },
  ];
}

import { isoNow } from '@inno-train/core';
import { failJob, type StepOutcome } from '@inno-train/workflow';
import type { JobRecord } from '@inno-train/schemas';
import type { ProvisionDeps } from './provision-deps';

/**
 * Gives back an instance that booted badly (unhealthy, preempted, gone, no SSH, no GPUs) and
 * either launches again elsewhere or, after `maxLaunchAttempts`, fails the job. The instance moves
 * to `retiredInstances`: teardown confirms its termination and its cost stays on the job.
 */
export async function retireInstance(deps: ProvisionDeps, job: JobRecord, reason: string): Promise<StepOutcome> {
  const instance = job.instance!;
  // Teardown confirms the termination later (and retries it if this call failed).
  const accepted = await deps.lambda.terminate([instance.id]).then(
    () => isoNow(),
    () => undefined,
  );
  const { job: updated } = await deps.store.update(
    job.id,
    (current) => {
      if (!current.instance || current.instance.id !== instance.id) return null;
      const retired = {
        ...current.instance,
        status: 'terminating',
        retiredReason: reason,
        ...(accepted ? { terminateRequestedAt: accepted } : {}),
      };
      current.retiredInstances = [...current.retiredInstances, retired];
      current.instance = null;
      return current;
    },
    (next) => [
      {
        type: 'instance',
        stage: 'provisioning',
        data: { instanceId: instance.id, reason, attempts: next.launchAttempts ?? 1 },
        message: `Gave back instance ${instance.id} (${instance.type} in ${instance.region}): ${reason}`,
      },
    ],
  );
  const attempts = updated.launchAttempts ?? 1;
  if (attempts >= deps.timings.maxLaunchAttempts) {
    const reasons = updated.retiredInstances.map((i) => i.retiredReason).join('; ');
    await failJob(deps, job.id, {
      code: 'provision_failed',
      message: `No usable instance after ${attempts} launches: ${reasons}`,
      stage: 'provisioning',
    });
    return { kind: 'done' };
  }
  await deps.store.appendEvent(job.id, {
    type: 'retry',
    stage: 'provisioning',
    message: `Launching again (launch ${attempts + 1} of at most ${deps.timings.maxLaunchAttempts})`,
  });
  return { kind: 'wait', delayMs: 0, step: {} };
}

import { isoNow, type Logger } from '@inno-train/core';
import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
import { failJob, isStopped } from '@inno-train/workflow';
import { instanceName, JOB_TAG, jobIdOfInstance, LAUNCHED_AT_TAG, type LambdaInstance } from './ports';
import type { ProvisionDeps } from './provision-step';
import { terminateNow } from './teardown-step';

const INSUFFICIENT_CAPACITY = 'instance-operations/launch/insufficient-capacity';
const LIVE = (instance: LambdaInstance) => !['terminated', 'terminating', 'preempted'].includes(instance.status);

/**
 * Launches the job's instance, or adopts one already launched for it (a worker can die between
 * the launch call and saving its answer; the job tag finds that instance, so a retry never
 * launches a second one). Returns false when the job failed or stopped instead.
 */
export async function launchForJob(deps: ProvisionDeps, job: JobRecord, logger: Logger): Promise<boolean> {
  const existing = (await deps.lambda.listInstances()).find((instance) => jobIdOfInstance(instance) === job.id && LIVE(instance));
  if (existing) {
    logger.info({ instanceId: existing.id }, 'adopting an instance already launched for this job');
    return recordInstance(deps, job.id, toInstanceInfo(existing, existing.instance_type?.price_cents_per_hour ?? null), 'Adopted instance launched earlier for this job');
  }

  const types = await deps.lambda.listInstanceTypes();
  const wanted = job.spec.instance.type;
  const entry = types[wanted];
  if (!entry) {
    await failJob(deps, job.id, { code: 'unknown_instance_type', message: `Instance type ${wanted} does not exist; known types: ${Object.keys(types).sort().join(', ')}`, stage: 'provisioning' });
    return false;
  }
  const withCapacity = entry.regions_with_capacity_available.map((region) => region.name);
  const allowed = job.spec.instance.regions ?? withCapacity;
  const candidates = allowed.filter((region) => withCapacity.includes(region));
  for (const region of candidates) {
    const tags = [{ key: JOB_TAG, value: job.id }, { key: LAUNCHED_AT_TAG, value: isoNow() }];
    try {
      const { instanceIds } = await deps.lambda.launch({ regionName: region, instanceTypeName: wanted, sshKeyNames: [deps.sshKeyName], name: instanceName(job.id), tags });
      const id = instanceIds[0];
      if (!id) throw new Error('Lambda answered a launch without an instance id');
      const info: InstanceInfo = { id, type: wanted, region, ip: null, status: 'booting', launchedAt: isoNow(), terminatedAt: null, priceCentsPerHour: entry.instance_type.price_cents_per_hour };
      return recordInstance(deps, job.id, info, `Launched instance ${id} (${wanted} in ${region})`);
    } catch (error) {
      if ((error as { code?: string }).code !== INSUFFICIENT_CAPACITY) throw error;
      await deps.store.appendEvent(job.id, { type: 'capacity', stage: 'provisioning', message: `No capacity for ${wanted} in ${region} at launch; trying the next region`, data: { region } });
    }
  }
  const where = allowed.length > 0 ? allowed.join(', ') : 'any region';
  await failJob(deps, job.id, { code: 'no_capacity', message: `No capacity for ${wanted} in ${where}`, stage: 'provisioning' });
  return false;
}

function toInstanceInfo(instance: LambdaInstance, price: number | null): InstanceInfo {
  const launchedAt = instance.tags?.find((tag) => tag.key === LAUNCHED_AT_TAG)?.value ?? isoNow();
  return {
    id: instance.id, type: instance.instance_type?.name ?? 'unknown', region: instance.region?.name ?? 'unknown',
    ip: instance.ip ?? null, status: instance.status, launchedAt, terminatedAt: null, priceCentsPerHour: price,
  };
}

/** Saves the instance on the job; if the job stopped meanwhile (cancel), gives it back at once. */
async function recordInstance(deps: ProvisionDeps, jobId: string, info: InstanceInfo, message: string): Promise<boolean> {
  const { job } = await deps.store.update(jobId, (current) => {
    if (current.instance && (current.instance.id === info.id || !current.instance.terminatedAt)) return null;
    current.instance = info;
    return current;
  });
  if (job.instance?.id !== info.id) {
    // The job already has a live instance: this one is surplus and must not bill.
    await deps.lambda.terminate([info.id]);
    await deps.store.appendEvent(jobId, { type: 'instance', stage: 'provisioning', message: `Terminated surplus instance ${info.id}`, data: { instanceId: info.id } });
    return !isStopped(job);
  }
  await deps.store.appendEvent(jobId, { type: 'instance', stage: 'provisioning', message, data: { instanceId: info.id, region: info.region, type: info.type } });
  if (isStopped(job)) {
    await terminateNow(deps, job);
    return false;
  }
  return true;
}

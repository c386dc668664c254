import { crashPoint, isoNow, type Logger } from '@inno-train/core';
import { instancesOf, isInstanceGone, type InstanceInfo, type JobRecord } from '@inno-train/schemas';
import { enqueueTeardown, failJob, isStopped } from '@inno-train/workflow';
import {
  ATTEMPT_TAG,
  instanceName,
  JOB_TAG,
  jobIdOfInstance,
  LAUNCHED_AT_TAG,
  NAMESPACE_TAG,
  tagOf,
  type CloudInstance,
  type CloudInstanceTypeEntry,
} from '@inno-train/cloud-port';
import { INSTANCE_TYPES_MAX_AGE_MS } from './cloud-view';
import type { ProvisionDeps } from './provision-deps';
import { terminateNow } from './teardown-step';

const INSUFFICIENT_CAPACITY = 'instance-operations/launch/insufficient-capacity';
const QUOTA_EXCEEDED = 'global/quota-exceeded';
const LIVE = (instance: CloudInstance) => !isInstanceGone(instance.status);

export type LaunchOutcome = 'launched' | 'wait' | 'stopped';

interface Candidate {
  type: string;
  region: string;
  entry: CloudInstanceTypeEntry;
}

/**
 * Launches the job's instance, or adopts one already launched for this attempt (a worker can die
 * between the launch call and saving its answer; the tags find that instance, so a retry never
 * launches a second one). Tries every (type, region) with capacity in the job's order; with none,
 * fails with no_capacity or, if the job allows it, waits for capacity.
 */
export async function launchForJob(deps: ProvisionDeps, job: JobRecord, logger: Logger, alreadyWaiting: boolean): Promise<LaunchOutcome> {
  const attempt = String((job.launchAttempts ?? 0) + 1);
  const retired = new Set(job.retiredInstances.map((instance) => instance.id));
  // Only a launch whose answer may be lost (its marker still set) can have made an instance the
  // record does not know: then the tags find it, in a listing taken now.
  const listed = job.launchInFlightSince ? (await deps.cloud.list(Date.now())).instances : [];
  const existing = listed.find(
    (instance) =>
      jobIdOfInstance(instance) === job.id && LIVE(instance) && !retired.has(instance.id) && tagOf(instance, ATTEMPT_TAG) === attempt,
  );
  if (existing) {
    logger.info({ instanceId: existing.id }, 'adopting an instance already launched for this job');
    const info = toInstanceInfo(existing, deps.timings.bootDeadlineMs);
    return (await recordInstance(deps, job.id, info, `Adopted instance ${existing.id}, launched earlier for this job`))
      ? 'launched'
      : 'stopped';
  }
  const types = await deps.cloud.instanceTypes(Date.now() - INSTANCE_TYPES_MAX_AGE_MS);
  const wanted = [job.spec.instance.type, ...(job.spec.instance.fallbackTypes ?? [])];
  if (!wanted.some((type) => types[type])) {
    await failJob(deps, job.id, {
      code: 'unknown_instance_type',
      message: `Instance type ${wanted.join(', ')} does not exist; known types: ${Object.keys(types).sort().join(', ')}`,
      stage: 'provisioning',
    });
    return 'stopped';
  }
  let quotaHit = false;
  for (const candidate of candidates(job, types)) {
    const result = await tryLaunch(deps, job, candidate, attempt);
    if (result === 'launched' || result === 'stopped') return result;
    if (result === 'quota') quotaHit = true;
  }
  return noCapacity(deps, job, wanted, quotaHit, alreadyWaiting);
}

/** Every (type, region) to try, in the job's order, skipping places where a boot already failed. */
function candidates(job: JobRecord, types: Record<string, CloudInstanceTypeEntry>): Candidate[] {
  const failed = new Set(job.retiredInstances.map((i) => `${i.type}@${i.region}`));
  const list: Candidate[] = [];
  for (const type of [job.spec.instance.type, ...(job.spec.instance.fallbackTypes ?? [])]) {
    const entry = types[type];
    if (!entry) continue;
    const withCapacity = entry.regions_with_capacity_available.map((region) => region.name);
    const allowed = job.spec.instance.regions ?? withCapacity;
    for (const region of allowed.filter((r) => withCapacity.includes(r))) list.push({ type, region, entry });
  }
  // A place that failed to boot goes last rather than away: it may be the only one there is.
  return [...list.filter((c) => !failed.has(`${c.type}@${c.region}`)), ...list.filter((c) => failed.has(`${c.type}@${c.region}`))];
}

async function tryLaunch(
  deps: ProvisionDeps,
  job: JobRecord,
  candidate: Candidate,
  attempt: string,
): Promise<LaunchOutcome | 'next' | 'quota'> {
  const marker = await markLaunchInFlight(deps, job.id);
  if (marker === null) {
    // The cancel queues teardown itself; this covers one that died right after its write.
    await enqueueTeardown(deps.queues, job.id, 'job stopped before its launch');
    return 'stopped';
  }
  // Once Lambda answered with an instance, the marker stays until recordInstance saves it (clearing
  // the marker in the same write); if this worker dies first, teardown waits out the marker and
  // finds the instance by its tags. Only a launch known to have made nothing clears it here.
  let keepMarker = false;
  const tags = [
    { key: JOB_TAG, value: job.id },
    { key: LAUNCHED_AT_TAG, value: isoNow() },
    { key: NAMESPACE_TAG, value: deps.namespace },
    { key: ATTEMPT_TAG, value: attempt },
  ];
  try {
    const { instanceIds } = await deps.lambda.launch({
      regionName: candidate.region,
      instanceTypeName: candidate.type,
      sshKeyNames: [deps.sshKeyName],
      name: instanceName(job.id),
      tags,
    });
    const id = instanceIds[0];
    if (!id) throw new Error('Lambda answered a launch without an instance id');
    keepMarker = true;
    // Billing has started and nothing of ours knows the instance yet: the tags must find it.
    crashPoint('launch:after-create');
    // Billing starts when Lambda creates the instance: after any pacing wait inside launch().
    const launchedAt = isoNow();
    const gpus = candidate.entry.instance_type.specs?.gpus ?? 1;
    const info: InstanceInfo = {
      id,
      type: candidate.type,
      region: candidate.region,
      ip: null,
      status: 'booting',
      launchedAt,
      terminatedAt: null,
      priceCentsPerHour: candidate.entry.instance_type.price_cents_per_hour,
      bootDeadlineAt: isoNow(Date.parse(launchedAt) + (gpus >= 8 ? deps.timings.bootDeadlineMultiGpuMs : deps.timings.bootDeadlineMs)),
    };
    return (await recordInstance(
      deps,
      job.id,
      info,
      `Launched instance ${id} (${candidate.type} in ${candidate.region}, launch ${attempt})`,
      marker,
    ))
      ? 'launched'
      : 'stopped';
  } catch (error) {
    // A timeout, 5xx or reset may have launched the instance all the same (the client says
    // `outcomeUnknown`): it is still in flight as far as we know, until its tags find it.
    if ((error as { outcomeUnknown?: unknown }).outcomeUnknown === true) keepMarker = true;
    const code = (error as { code?: string }).code;
    if (code !== INSUFFICIENT_CAPACITY && code !== QUOTA_EXCEEDED) throw error;
    await deps.store.appendEvent(job.id, {
      type: 'capacity',
      stage: 'provisioning',
      data: { type: candidate.type, region: candidate.region, code },
      message:
        code === QUOTA_EXCEEDED
          ? `Account quota reached launching ${candidate.type} in ${candidate.region}`
          : `No capacity for ${candidate.type} in ${candidate.region} at launch; trying the next place`,
    });
    return code === QUOTA_EXCEEDED ? 'quota' : 'next';
  } finally {
    if (!keepMarker) await clearLaunchMarker(deps, job.id, marker);
  }
}

/**
 * Marks a launch in flight in the same compare-and-set that checks the job still wants one: a
 * cancel that lands first means no launch; a cancel that lands after it makes teardown wait for
 * this launch's answer before calling the job settled. Returns the marker, or null when the job
 * stopped.
 */
async function markLaunchInFlight(deps: ProvisionDeps, jobId: string): Promise<string | null> {
  const since = isoNow();
  const { changed } = await deps.store.update(jobId, (current) => {
    if (isStopped(current)) return null;
    current.launchInFlightSince = since;
    // The view judges a record without `settledAt` by its instances alone, so a job cancelled
    // during its first launch (no instance yet) would look settled the moment it ended; null says
    // "not settled" until teardown writes the time.
    if (current.settledAt === undefined) current.settledAt = null;
    return current;
  });
  return changed ? since : null;
}

/** Clears this launch's marker (not a later launch's) once the launch is known to have made nothing. */
async function clearLaunchMarker(deps: ProvisionDeps, jobId: string, marker: string): Promise<void> {
  await deps.store.update(jobId, (current) => {
    if (current.launchInFlightSince !== marker) return null;
    current.launchInFlightSince = null;
    return current;
  });
}

/** Nothing launched: wait for capacity (or quota) if the job allows it, else fail clearly. */
async function noCapacity(
  deps: ProvisionDeps,
  job: JobRecord,
  wanted: string[],
  quotaHit: boolean,
  alreadyWaiting: boolean,
): Promise<LaunchOutcome> {
  const waitSeconds = job.spec.instance.capacityWaitSeconds ?? 0;
  const since = Date.parse(job.startedAt ?? job.createdAt);
  const where = job.spec.instance.regions?.join(', ') ?? 'any region';
  if (Date.now() - since < waitSeconds * 1000) {
    if (!alreadyWaiting) {
      await deps.store.appendEvent(job.id, {
        type: 'capacity',
        stage: 'provisioning',
        message: `Waiting up to ${waitSeconds} s for ${quotaHit ? 'account quota' : 'capacity'} (${wanted.join(', ')} in ${where})`,
      });
    }
    return 'wait';
  }
  const code = quotaHit ? 'quota_exceeded' : 'no_capacity';
  const message = quotaHit
    ? `The Lambda account's quota is used up (launching ${wanted.join(', ')} in ${where}); end other instances or raise the quota`
    : `No capacity for ${wanted.join(', ')} in ${where}${waitSeconds ? ` after waiting ${waitSeconds} s` : ''}`;
  await failJob(deps, job.id, { code, message, stage: 'provisioning' });
  return 'stopped';
}

function toInstanceInfo(instance: CloudInstance, bootDeadlineMs: number): InstanceInfo {
  const launchedAt = tagOf(instance, LAUNCHED_AT_TAG) ?? isoNow();
  return {
    id: instance.id,
    type: instance.instance_type?.name ?? 'unknown',
    region: instance.region?.name ?? 'unknown',
    ip: instance.ip ?? null,
    status: instance.status,
    launchedAt,
    terminatedAt: null,
    priceCentsPerHour: instance.instance_type?.price_cents_per_hour ?? null,
    bootDeadlineAt: isoNow(Date.parse(launchedAt) + bootDeadlineMs),
  };
}

/**
 * Saves the instance on the job and clears the launch marker in the same write (`marker`: this
 * launch's; the adopt path passes none, as the instance it found answers whatever launch was in
 * flight). If the job stopped meanwhile (cancel), gives the instance back at once.
 */
async function recordInstance(deps: ProvisionDeps, jobId: string, info: InstanceInfo, message: string, marker?: string): Promise<boolean> {
  let recorded = false;
  const { job } = await deps.store.update(
    jobId,
    (current) => {
      const answered = current.launchInFlightSince && (marker === undefined || current.launchInFlightSince === marker);
      if (answered) current.launchInFlightSince = null;
      recorded = false;
      // Known already (an earlier run saved it, or teardown found it by its tags), or the job has a live one.
      const known = instancesOf(current).some((instance) => instance.id === info.id);
      if (known || (current.instance && !current.instance.terminatedAt)) return answered ? current : null;
      recorded = true;
      current.instance = info;
      current.launchAttempts = (current.launchAttempts ?? 0) + 1;
      return current;
    },
    () =>
      recorded
        ? [{ type: 'instance', stage: 'provisioning', message, data: { instanceId: info.id, region: info.region, type: info.type } }]
        : [],
  );
  if (job.instance?.id !== info.id) {
    // Teardown adopted it while the launch was in flight (the job ended): teardown gives it back.
    if (job.retiredInstances.some((instance) => instance.id === info.id)) return !isStopped(job);
    // The job already has a live instance: this one is surplus and must not bill.
    await deps.lambda.terminate([info.id]);
    await deps.store.appendEvent(jobId, {
      type: 'instance',
      stage: 'provisioning',
      message: `Terminated surplus instance ${info.id}`,
      data: { instanceId: info.id },
    });
    return !isStopped(job);
  }
  if (isStopped(job)) {
    await terminateNow(deps, job);
    return false;
  }
  return true;
}

import type { CloudInstance } from './provider';

/** Tags that mark an instance as ours and say which job it serves. */
export const JOB_TAG = 'inno-train:job';
export const LAUNCHED_AT_TAG = 'inno-train:launched-at';
/** Which installation launched it: the reconciler of one never touches another's instances. */
export const NAMESPACE_TAG = 'inno-train:ns';
/** Which launch attempt of the job it is (a relaunch must not adopt a retired instance). */
export const ATTEMPT_TAG = 'inno-train:attempt';

export function instanceName(jobId: string): string {
  return `inno-train-${jobId}`;
}

/** The value of one of an instance's tags, if it has it. */
export function tagOf(instance: Pick<CloudInstance, 'tags'>, key: string): string | undefined {
  return instance.tags?.find((tag) => tag.key === key)?.value;
}

export function jobIdOfInstance(instance: Pick<CloudInstance, 'tags'>): string | null {
  return tagOf(instance, JOB_TAG) ?? null;
}

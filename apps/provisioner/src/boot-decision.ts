/**
 * Whether a booting instance is ready, worth waiting for, or to be given back: a pure function of
 * what was seen so far (the cloud's status, then SSH, then the GPU check), table-tested without
 * the cloud or SSH. The provision step observes one more thing each time this asks for it.
 */
import { isInstanceGone } from '@inno-train/schemas';
import type { StepState } from '@inno-train/workflow-constants';

type Step = StepState<'provisioning'>;

export interface BootObservation {
  /** The instance as the cloud reports it; null when the cloud no longer knows it (404). */
  cloud: { status: string; ip: string | null } | null;
  /** Past the instance's boot deadline (15 min; 35 min for 8 GPUs). */
  pastDeadline: boolean;
  /** Whether SSH answered; looked at only once the cloud says active with an address. */
  ssh?: boolean;
  /** The GPU check; run only once SSH answered. */
  gpus?: { ok: boolean; output: string };
}

export type BootDecision =
  | { kind: 'retire'; reason: string }
  | { kind: 'wait'; delayMs: number; step: Step }
  | { kind: 'probe_ssh' }
  | { kind: 'check_gpus' }
  | { kind: 'ready'; gpuLines: string[] };

/** sshd comes up a little after `active`: each miss waits longer (x1.5), at most 4 boot polls. */
export function sshBackoffMs(bootPollMs: number, misses: number): number {
  return Math.round(bootPollMs * Math.min(4, 1.5 ** misses));
}

export function decideBoot(seen: BootObservation, step: Step, bootPollMs: number): BootDecision {
  const { cloud, pastDeadline } = seen;
  if (!cloud || isInstanceGone(cloud.status))
    return { kind: 'retire', reason: `instance ${cloud?.status ?? 'disappeared (404)'} while booting` };
  if (cloud.status === 'unhealthy' && pastDeadline) return { kind: 'retire', reason: 'instance stayed unhealthy past its boot deadline' };
  if (cloud.status !== 'active' || !cloud.ip) {
    return pastDeadline
      ? { kind: 'retire', reason: `instance still ${cloud.status} at its boot deadline` }
      : { kind: 'wait', delayMs: bootPollMs, step };
  }
  if (seen.ssh === undefined) return { kind: 'probe_ssh' };
  if (!seen.ssh) {
    if (pastDeadline) return { kind: 'retire', reason: 'SSH never answered before the boot deadline' };
    const misses = (step.sshMisses ?? 0) + 1;
    return { kind: 'wait', delayMs: sshBackoffMs(bootPollMs, misses), step: { ...step, sshMisses: misses } };
  }
  if (seen.gpus === undefined) return { kind: 'check_gpus' };
  if (!seen.gpus.ok) return { kind: 'retire', reason: `GPU check failed: ${seen.gpus.output.trim().slice(0, 200)}` };
  return { kind: 'ready', gpuLines: seen.gpus.output.trim().split('\n') };
}

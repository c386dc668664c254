import { z } from 'zod';

/**
 * Every code a job can end with (`error.code`), a closed set: clients switch on these, so a new one
 * is a contract change (the README's table is generated from JOB_ERROR_CODE_INFO). Lower-level failures
 * (SSH, S3, the cloud API) are not passed through: the stage that gives up maps them to its own
 * code and keeps the underlying one in the message.
 */
export const JOB_ERROR_CODES = [
  'no_capacity',
  'quota_exceeded',
  'unknown_instance_type',
  'provision_failed',
  'provider_auth_failed',
  'provider_error',
  'input_transfer_failed',
  'input_verification_failed',
  'transfer_timeout',
  'training_failed',
  'training_process_lost',
  'training_error',
  'max_runtime_exceeded',
  'max_cost_exceeded',
  'budget_exhausted',
  'host_lost',
  'deadline_exceeded',
  'output_transfer_failed',
  'internal_error',
] as const;

export const jobErrorCodeSchema = z.enum(JOB_ERROR_CODES);

export type JobErrorCode = z.infer<typeof jobErrorCodeSchema>;

/** When a job ends with each code, as the README shows it: a code added without one does not compile. */
export const JOB_ERROR_CODE_INFO: Record<JobErrorCode, string> = {
  no_capacity: 'no allowed (type, region) had capacity, within `instance.capacityWaitSeconds`',
  quota_exceeded: "the Lambda account's quota is used up",
  unknown_instance_type: 'the instance type (or a fallback) does not exist',
  provision_failed: 'no usable instance after `MAX_LAUNCH_ATTEMPTS` launches, or provisioning gave up',
  provider_auth_failed: "Lambda refused the service's API key or account",
  provider_error: 'Lambda answered with another error while provisioning',
  input_transfer_failed: 'an input could not be fetched onto the host',
  input_verification_failed:
    "an input's bytes on the host did not match the checksum S3 publishes for it (MD5 or SHA-256), however often it was fetched",
  transfer_timeout: 'stage-in or stage-out ran past its deadline',
  training_failed: 'the command exited non-zero (exit code and log tail in the message)',
  training_process_lost: 'the training process vanished without an exit code',
  training_error: 'the service could not start or watch the command (the underlying code is in the message)',
  max_runtime_exceeded: 'training ran past `maxRuntimeSeconds` and was stopped',
  max_cost_exceeded: "the job's instances reached `maxCostUsd` and training was stopped",
  budget_exhausted: "the key's monthly spend reached its `monthlyBudgetUsd` and training was stopped (partial outputs staged out)",
  host_lost: 'the host died, stopped answering past the grace window, or the cloud reported it down',
  deadline_exceeded: 'the job ran past every deadline it had; the reconciler terminated its instance',
  output_transfer_failed: 'the outputs could not be uploaded',
  internal_error: 'a bug: a failure nothing above describes',
};

export function isJobErrorCode(value: unknown): value is JobErrorCode {
  return typeof value === 'string' && (JOB_ERROR_CODES as readonly string[]).includes(value);
}

import { z } from 'zod';

/**
 * Every code a job can end with (`error.code`), a closed set: clients switch on these, so a new one
 * is a contract change (README lists them; a test keeps the two in step). Lower-level failures
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

export function isJobErrorCode(value: unknown): value is JobErrorCode {
  return typeof value === 'string' && (JOB_ERROR_CODES as readonly string[]).includes(value);
}

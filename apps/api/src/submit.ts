import { crashPoint, isoNow } from '@inno-train/core';
import { newJobId, type JobStore } from '@inno-train/job-store';
import { jobSubmissionSchema, type JobRecord, type JobSpec, type JobSubmission } from '@inno-train/schemas';
import { enqueueStage, type StageQueues } from '@inno-train/workflow';
import { QUEUES } from '@inno-train/workflow-constants';
import type { z } from 'zod';
import { parseS3Uri } from '@inno-train/storage';
import { HttpError } from './http-error';

/** The S3 calls submit needs: existence checks only, never object bodies. */
export interface InputChecker {
  checkInput(uri: string): Promise<unknown>;
}

export interface SubmitDeps {
  store: JobStore;
  queues: StageQueues;
  storage: InputChecker;
  defaultBucket: string;
  /** s3://bucket/prefix entries the service may read and write for clients. */
  allowedPrefixes: string[];
}

/** One detail per offending field; unknown keys are named one by one. */
export function validationDetails(error: z.ZodError) {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...base, key].join('.'), message: 'unknown field' }));
    }
    return [{ path: base.join('.'), message: issue.message }];
  });
}

/** Checks a submission, makes its record and enqueues provisioning. */
export async function submitJob(deps: SubmitDeps, body: unknown, createdBy: string | null): Promise<JobRecord> {
  const parsed = jobSubmissionSchema.safeParse(body);
  if (!parsed.success) {
    const details = validationDetails(parsed.error);
    const fields = [...new Set(details.map((d) => d.path || '(body)'))].join(', ');
    throw new HttpError(400, 'invalid_request', `Invalid job submission: ${fields}`, details);
  }
  const submission = parsed.data;
  checkAllowedLocations(deps.allowedPrefixes, submission, deps.defaultBucket);
  await checkInputsExist(deps.storage, submission.inputs, 'uri' in submission.script ? submission.script.uri : undefined);

  const id = newJobId();
  const now = isoNow();
  const script = 'uri' in submission.script
    ? { uri: submission.script.uri, filename: submission.script.filename ?? basename(submission.script.uri) }
    : submission.script;
  const spec: JobSpec = {
    ...submission,
    script,
    command: submission.command ?? `python3 ${script.filename}`,
    outputUri: submission.outputUri ?? `s3://${deps.defaultBucket}/jobs/${id}/output/`,
  };
  const job: JobRecord = {
    id, name: submission.name ?? null, status: 'queued', createdAt: now, updatedAt: now, startedAt: null, finishedAt: null,
    spec, instance: null, progress: null, outputs: [], error: null, pendingError: null, cancelRequested: false,
    createdBy, training: { startedAt: null, exitCode: null }, metadata: submission.metadata ?? {},
  };
  await deps.store.create(job, { at: now, type: 'status', stage: 'submit', message: 'Job submitted', data: { status: 'queued' } });
  // A crash here leaves a queued job with nothing queued: the provisioner's sweep queues it.
  crashPoint('submit:after-create');
  await enqueueStage(deps.queues, QUEUES.provision, id);
  return job;
}

/**
 * The service's S3 credentials reach further than any one client should: every location a job
 * names must fall under a configured prefix, or the service would read (or write) it for them.
 */
function checkAllowedLocations(allowed: string[], submission: JobSubmission, defaultBucket: string): void {
  const named = [
    ...Object.entries(submission.inputs).map(([name, uri]) => ({ path: `inputs.${name}`, uri })),
    ...('uri' in submission.script ? [{ path: 'script.uri', uri: submission.script.uri }] : []),
    { path: 'outputUri', uri: submission.outputUri ?? `s3://${defaultBucket}/jobs/` },
  ];
  // Malformed input URIs are left to the existence check, which answers 400 naming them; the
  // output URI has no such check, so it is refused here.
  const wellFormed = named.filter(({ path, uri }) => {
    try {
      parseS3Uri(uri);
      return true;
    } catch (error) {
      if (path === 'outputUri') throw new HttpError(400, 'invalid_request', `Invalid job submission: outputUri`, [{ path, message: (error as Error).message }]);
      return false;
    }
  });
  const denied = wellFormed.filter(({ uri }) => !allowed.some((prefix) => uri.startsWith(prefix)));
  if (denied.length > 0) {
    throw new HttpError(403, 'forbidden_location', `Not under an allowed S3 prefix: ${denied.map((d) => d.path).join(', ')}`,
      denied.map((d) => ({ path: d.path, message: 'outside the S3 prefixes this service may use (S3_ALLOWED_PREFIXES)' })));
  }
}

function basename(uri: string): string {
  const name = uri.split('/').pop() ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new HttpError(400, 'invalid_request', 'script.filename is required when the script URI does not end in a plain file name', [
      { path: 'script.filename', message: 'required for this URI' },
    ]);
  }
  return name;
}

/** Storage answers that mean "this input cannot be used" (a 400), not "try again later". */
const INPUT_PROBLEM_CODES = new Set(['input_not_found', 'invalid_s3_uri', 'storage_access_denied', 'storage_bucket_not_found', 'storage_object_not_found']);

/** Every input must exist now: a typo is a 400 at submit, not a failed job an hour later. */
async function checkInputsExist(storage: InputChecker, inputs: Record<string, string>, scriptUri: string | undefined): Promise<void> {
  const checks = Object.entries(inputs).map(([name, uri]) => ({ path: `inputs.${name}`, uri }));
  if (scriptUri) checks.push({ path: 'script.uri', uri: scriptUri });
  const results = await Promise.allSettled(checks.map((check) => storage.checkInput(check.uri)));
  const problems = results.flatMap((result, index) => {
    if (result.status === 'fulfilled') return [];
    const error = result.reason as { code?: string; message?: string };
    if (!INPUT_PROBLEM_CODES.has(error.code ?? '')) throw result.reason;
    return [{ path: checks[index]!.path, message: error.message ?? 'not found' }];
  });
  if (problems.length > 0) {
    throw new HttpError(400, 'invalid_input', `Inputs not usable: ${problems.map((p) => p.path).join(', ')}`, problems);
  }
}

import { createHash } from 'node:crypto';
import { crashPoint, isoNow } from '@inno-train/core';
import { jobIdTime, newJobId, type JobStore } from '@inno-train/job-store';
import { createJobRecord, jobSubmissionSchema, type JobRecord, type JobSpec, type JobSubmission } from '@inno-train/schemas';
import { enqueueStage, monthSpendUsd, type StageQueues } from '@inno-train/workflow';
import { QUEUES } from '@inno-train/workflow-constants';
import type { z } from 'zod';
import { parseS3Uri } from '@inno-train/storage';
import { HttpError } from './http-error';
import type { Tenant } from './keys';
import { resolveResumeSource } from './resume-from';

/** The S3 calls submit needs: existence checks only, never object bodies. */
export interface InputChecker {
  checkInput(uri: string): Promise<unknown>;
}

export interface SubmitDeps {
  store: JobStore;
  queues: StageQueues;
  storage: InputChecker;
  defaultBucket: string;
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

/** What a submission made: a new job, or (a retry with the same Idempotency-Key) the one made before. */
export interface SubmitResult {
  job: JobRecord;
  replayed: boolean;
}

/** RFC-draft Idempotency-Key: here 1 to 255 visible ASCII characters (a UUID is the usual choice). */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * Checks a submission, makes its record and enqueues provisioning. With an Idempotency-Key, the key
 * is reserved for the new job's id before anything is created, so a client that lost the answer
 * (or an API that died mid-request) and sends the same request again gets the same job.
 */
export async function submitJob(
  deps: SubmitDeps,
  body: unknown,
  tenant: Tenant,
  idempotencyKey?: string,
  origin: { retryOf?: string } = {},
): Promise<SubmitResult> {
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
    throw new HttpError(400, 'invalid_request', 'Invalid Idempotency-Key header: use 1 to 255 visible ASCII characters', [
      { path: 'Idempotency-Key', message: 'invalid' },
    ]);
  }
  // A retry of a request already answered gets that answer, before anything is checked again (an
  // input deleted since, or S3 briefly down, must not turn a replay into an error).
  if (idempotencyKey !== undefined) {
    const replay = await findReplay(deps, tenant.name, idempotencyKey, requestOf(body, origin));
    if (replay) return { job: replay, replayed: true };
  }
  const parsed = jobSubmissionSchema.safeParse(body);
  if (!parsed.success) {
    const details = validationDetails(parsed.error);
    const fields = [...new Set(details.map((d) => d.path || '(body)'))].join(', ');
    throw new HttpError(400, 'invalid_request', `Invalid job submission: ${fields}`, details);
  }
  const submission = parsed.data;
  checkAllowedLocations(tenant.allowedPrefixes, submission);
  await checkInputsExist(deps.storage, submission.inputs, 'uri' in submission.script ? submission.script.uri : undefined);
  const resumeSource = await resolveResumeSource(deps.store, submission.resumeFrom, tenant);

  let id = newJobId();
  if (idempotencyKey !== undefined) {
    const earlier = await reserveKey(deps, tenant.name, idempotencyKey, requestOf(body, origin), id);
    if (earlier.job) return { job: earlier.job, replayed: true };
    id = earlier.jobId;
  }
  await checkBudget(deps.store, tenant);
  const job = newJobRecord(deps, submission, id, tenant, { retryOf: origin.retryOf ?? null, resumeSource });
  const now = job.createdAt;
  try {
    await deps.store.create(job, { at: now, type: 'status', stage: 'submit', message: 'Job submitted', data: { status: 'queued' } });
  } catch (error) {
    // The same key's first request created it meanwhile (two retries racing): answer with that one.
    const existing = idempotencyKey !== undefined ? await deps.store.get(id) : null;
    if (!existing) throw error;
    return { job: existing, replayed: true };
  }
  // A crash here leaves a queued job with nothing queued: the provisioner's sweep queues it.
  crashPoint('submit:after-create');
  await enqueueStage(deps.queues, QUEUES.provisioning, id);
  return { job, replayed: false };
}

/** What an Idempotency-Key is bound to: the submission, and for a retry the job it re-runs too. */
function requestOf(body: unknown, origin: { retryOf?: string }): unknown {
  return origin.retryOf === undefined ? body : { retryOf: origin.retryOf, request: body };
}

/** The job an earlier request with this key made, if it exists: re-queued if still queued. */
async function findReplay(deps: SubmitDeps, createdBy: string, key: string, body: unknown): Promise<JobRecord | null> {
  // A body nested this deep was never valid, so no key was ever reserved for it: validation answers.
  if (nestedDeeperThan(body, MAX_FINGERPRINT_DEPTH)) return null;
  const earlier = await deps.store.findSubmission(createdBy, key);
  if (!earlier) return null;
  assertSameRequest(earlier.fingerprint, body);
  const job = await deps.store.get(earlier.jobId);
  if (job?.status === 'queued') await enqueueStage(deps.queues, QUEUES.provisioning, job.id);
  return job;
}

/** Deeper than any valid submission (config nests at most 32 levels). */
const MAX_FINGERPRINT_DEPTH = 40;

/** Iterative, so a hostile 20,000-level body cannot overflow the stack here. */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= max) return true;
    for (const inner of Object.values(current)) pending.push([inner, depth + 1]);
  }
  return false;
}

/** The request's digest: canonical JSON (keys sorted at every level), so key order is not a new request. */
function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/** A key already used for another request answers 422: the client must not get someone else's job. */
function assertSameRequest(fingerprint: string, body: unknown): void {
  if (sameRequest(fingerprint, body)) return;
  throw new HttpError(
    422,
    'idempotency_key_reused',
    'This Idempotency-Key was already used with a different request; use a new key for a new job',
  );
}

/** Also accepts the digest of the plain serialisation, which reservations made before canonical JSON hold. */
function sameRequest(fingerprint: string, body: unknown): boolean {
  return fingerprint === fingerprintOf(body) || fingerprint === createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Reserves the key for `id`; if it was reserved before, returns that job (re-queueing it if it is
 * still queued, in case its first request died before that), or just its id when the first request
 * died before creating it (the caller creates it now, under that id).
 */
async function reserveKey(
  deps: SubmitDeps,
  createdBy: string,
  key: string,
  body: unknown,
  id: string,
): Promise<{ jobId: string; job?: JobRecord }> {
  const fingerprint = fingerprintOf(body);
  const earlier = await deps.store.reserveSubmission(createdBy, key, { jobId: id, fingerprint });
  if (!earlier) return { jobId: id };
  assertSameRequest(earlier.fingerprint, body);
  const job = await deps.store.get(earlier.jobId);
  if (!job && (await deps.store.wasDeleted(earlier.jobId))) {
    throw new HttpError(
      409,
      'idempotency_key_reused',
      `This Idempotency-Key made job ${earlier.jobId}, which was deleted; use a new key for a new job`,
    );
  }
  if (!job) return { jobId: earlier.jobId };
  if (job.status === 'queued') await enqueueStage(deps.queues, QUEUES.provisioning, job.id);
  return { jobId: job.id, job };
}

function newJobRecord(
  deps: SubmitDeps,
  submission: JobSubmission,
  id: string,
  tenant: Tenant,
  origin: Pick<JobRecord, 'retryOf' | 'resumeSource'>,
): JobRecord {
  // The id's own clock, so filters on creation time (an id range) agree with createdAt to the millisecond.
  const now = isoNow(jobIdTime(id));
  const script =
    'uri' in submission.script
      ? { uri: submission.script.uri, filename: submission.script.filename ?? basename(submission.script.uri) }
      : submission.script;
  const spec: JobSpec = {
    ...submission,
    script,
    command: submission.command ?? `python3 ${script.filename}`,
    outputUri: submission.outputUri ?? defaultOutputUri(tenant.allowedPrefixes, deps.defaultBucket, id),
  };
  return createJobRecord({
    id,
    spec,
    name: submission.name ?? null,
    createdBy: tenant.name,
    limits: { maxConcurrentJobs: tenant.maxConcurrentJobs, monthlyBudgetUsd: tenant.monthlyBudgetUsd },
    metadata: submission.metadata ?? {},
    ...origin,
    now,
  });
}

/** The service's bucket when the tenant may write there, else under the tenant's first prefix. */
function defaultOutputUri(allowed: string[], defaultBucket: string, id: string): string {
  const inServiceBucket = `s3://${defaultBucket}/jobs/${id}/output/`;
  if (allowed.some((prefix) => inServiceBucket.startsWith(prefix))) return inServiceBucket;
  return `${allowed[0]}jobs/${id}/output/`;
}

/** A month's spend at the budget refuses new work (running jobs are stopped by training). */
async function checkBudget(store: JobStore, tenant: Tenant): Promise<void> {
  if (tenant.monthlyBudgetUsd === null) return;
  const spend = await monthSpendUsd(store, tenant.name);
  if (spend >= tenant.monthlyBudgetUsd) {
    throw new HttpError(
      402,
      'budget_exhausted',
      `This key's monthly budget (${tenant.monthlyBudgetUsd} USD) is spent (${spend.toFixed(2)} USD this month); new jobs are refused until next month`,
    );
  }
}

/**
 * The service's S3 credentials reach further than any one tenant should: every location a job
 * names must fall under the key's own prefixes, or the service would read (or write) it for them.
 */
function checkAllowedLocations(allowed: string[], submission: JobSubmission): void {
  const named = [
    ...Object.entries(submission.inputs).map(([name, uri]) => ({ path: `inputs.${name}`, uri })),
    ...('uri' in submission.script ? [{ path: 'script.uri', uri: submission.script.uri }] : []),
    ...(submission.outputUri !== undefined ? [{ path: 'outputUri', uri: submission.outputUri }] : []),
  ];
  // Malformed input URIs are left to the existence check, which answers 400 naming them; the
  // output URI has no such check, so it is refused here.
  const wellFormed = named.filter(({ path, uri }) => {
    try {
      parseS3Uri(uri);
      return true;
    } catch (error) {
      if (path === 'outputUri')
        throw new HttpError(400, 'invalid_request', `Invalid job submission: outputUri`, [{ path, message: (error as Error).message }]);
      return false;
    }
  });
  const denied = wellFormed.filter(({ uri }) => !allowed.some((prefix) => uri.startsWith(prefix)));
  if (denied.length > 0) {
    throw new HttpError(
      403,
      'forbidden_location',
      `Not under an allowed S3 prefix: ${denied.map((d) => d.path).join(', ')}`,
      denied.map((d) => ({ path: d.path, message: 'outside the S3 prefixes this API key may use' })),
    );
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
const INPUT_PROBLEM_CODES = new Set([
  'input_not_found',
  'invalid_s3_uri',
  'storage_access_denied',
  'storage_bucket_not_found',
  'storage_object_not_found',
]);

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

/**
 * What the API fuzz counts as a problem: pure checks of one answer, of a job's state and events,
 * and the grouping of findings into the report the test expects to be empty.
 */
import type { FuzzRequest } from './api-request';

export interface Finding {
  problem: string;
  /** What groups findings in the report: the problem and what the requests have in common. */
  signature: string;
  request: string;
  status?: number;
  response?: string;
}

/** A job event as the API lists it. */
export interface JobEvent {
  type: string;
  stage: string;
  message: string;
}

export const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** A short description of what makes a request special, to group findings by cause. */
export function signatureOf(problem: string, request: FuzzRequest, status?: number): string {
  const features: string[] = [];
  try {
    decodeURIComponent(request.path.split('?')[0]!);
  } catch {
    features.push('malformed %-escape in the path');
  }
  const type = request.headers['content-type'];
  const encoding = request.headers['content-encoding'];
  if (request.category.startsWith('content-type'))
    features.push(`content-type ${JSON.stringify(type ?? null)}${encoding ? `, content-encoding ${JSON.stringify(encoding)}` : ''}`);
  if (request.category === 'job:deep-config')
    features.push(`config nested ${/deep-config-(\d+)/.exec(typeof request.body === 'string' ? request.body : '')?.[1] ?? '?'} levels`);
  // Requests with a telling feature are grouped by it, whatever their category; others by category.
  return `${problem}${status ? ` ${status}` : ''} [${features.length ? features.join('; ') : request.category}]`;
}

export function isBoardAnswer(request: FuzzRequest, status: number, apiKey: string): boolean {
  // Behind the key, /admin/queues/* is answered by Bull Board's own router (its own error format).
  return request.path.startsWith('/admin/queues') && status !== 401 && request.headers.authorization === `Bearer ${apiKey}`;
}

/** True when the body is the service's error shape, {error: {code, message}} with string fields. */
export function isWellFormedError(text: string): boolean {
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return typeof json?.error?.code === 'string' && typeof json?.error?.message === 'string';
}

/** What the API made of one request, judged from its status and body alone. */
export interface Verdict {
  /** Problems in the order the checks ran; empty when the answer is as it should be. */
  problems: string[];
  /** Set when Bull Board answered a 4xx in its own format (reported, not a problem). */
  boardErrorShape?: string;
  /** The id of the job a 202 accepted. */
  jobId?: string;
}

/** Pause/resume-all answer 200 on a read-only board but skip read-only queues (checked at the end). */
const PAUSE_OR_RESUME_ALL = /^\/admin\/queues\/api\/queues\/(pause|resume)$/;

export function judgeAnswer(request: FuzzRequest, status: number, text: string, apiKey: string): Verdict {
  const verdict: Verdict = { problems: [] };
  if (status >= 500) verdict.problems.push('5xx');
  if (status >= 400 && status < 500 && request.method !== 'HEAD' && !isWellFormedError(text)) {
    if (isBoardAnswer(request, status, apiKey)) verdict.boardErrorShape = `${status} ${text.slice(0, 80)}`;
    else verdict.problems.push('4xx without {error: {code, message}}');
  }
  if (request.category === 'board:write' && status < 400 && !PAUSE_OR_RESUME_ALL.test(request.path))
    verdict.problems.push('the read-only board accepted a write');
  if (status === 202) {
    const id = jobIdOf(text);
    if (typeof id === 'string') verdict.jobId = id;
    else verdict.problems.push('202 without a job id');
    if (request.expect === 'invalid') verdict.problems.push('an invalid request was accepted');
  } else if (request.expect === 'valid') {
    verdict.problems.push('a valid job was not accepted');
  }
  return verdict;
}

function jobIdOf(text: string): unknown {
  try {
    return JSON.parse(text).id;
  } catch {
    return undefined;
  }
}

/** A job that has not ended, or has an instance not yet terminated. */
export function isOpen(job: any): boolean {
  const instances = [...(job.retiredInstances ?? []), ...(job.instance ? [job.instance] : [])];
  return !TERMINAL.includes(job.status) || instances.some((instance: { terminatedAt: string | null }) => !instance.terminatedAt);
}

/**
 * Retries and unreachable hosts in staging or training for anything but a network or SSH hiccup:
 * what the job itself holds must never make a step fail.
 */
export function nonNetworkTroubles(events: JobEvent[]): JobEvent[] {
  return events.filter(
    (e) =>
      ['staging_in', 'training', 'staging_out'].includes(e.stage) &&
      (e.type === 'retry' || e.type === 'unreachable') &&
      // SSH and SFTP trouble under load (sshd busy, a subsystem that did not start) names the host.
      !/ubuntu@|@\d+\.\d+\.\d+\.\d+|timed? ?out|ECONN|EHOST|connect|handshake|socket|subsystem|ssh_/i.test(e.message),
  );
}

/** Findings grouped by signature, the commonest first, with up to three requests each; '' when none. */
export function findingsReport(findings: Finding[]): string {
  const grouped = new Map<string, Finding[]>();
  for (const finding of findings) grouped.set(finding.signature, [...(grouped.get(finding.signature) ?? []), finding]);
  return [...grouped.entries()]
    .sort(([, a], [, b]) => b.length - a.length)
    .map(
      ([signature, list]) =>
        `${list.length} × ${signature}\n${list
          .slice(0, 3)
          .map((f) => `    ${f.request}\n      -> ${f.status ?? ''} ${JSON.stringify(f.response ?? '')}`)
          .join('\n')}`,
    )
    .join('\n');
}

/** Why the API answered 5xx, from its own log (the body says only "internal_error"): each cause, counted. */
export function apiErrorsFromLog(log: string): Record<string, number> {
  return countValues(
    log
      .split('\n')
      .filter((line) => line.includes('"msg":"request failed"'))
      .map((line) => {
        try {
          const entry = JSON.parse(line);
          return `${entry.err?.type ?? ''}: ${String(entry.err?.message ?? '').slice(0, 120)} (status ${entry.err?.status ?? entry.err?.statusCode ?? '-'}, type ${entry.err?.type ?? '-'})`;
        } catch {
          return line.slice(0, 160);
        }
      }),
  );
}

export function countValues(values: Array<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const value of values) out[String(value)] = (out[String(value)] ?? 0) + 1;
  return out;
}

/**
 * Sending a fuzz run: concurrent workers take slots in order, generate each slot's request on the
 * spot, send it, and tally the answer (status counts, findings, accepted jobs).
 */
import { generate, planSpecialSlots, type SpecialSlots } from './api-request-mix';
import { show, type FuzzRequest, type RequestSource } from './api-request';
import { judgeAnswer, signatureOf, type Finding } from './api-oracles';

export interface FuzzOptions {
  /** Requests to send (those fetch refuses to send do not count). */
  total: number;
  /** Valid jobs among them, each in a fixed slot of the last 45% of the run. */
  validJobs: number;
  /** Requests in flight at once. */
  concurrency: number;
}

export interface FuzzTally {
  startedAt: number;
  /** How long the concurrent part of the run took (before any top-up). */
  fuzzMs: number;
  sent: number;
  /** Generated requests fetch refused to send (header values that are not HTTP). */
  notSendable: number;
  byStatus: Map<string, number>;
  byCategory: Map<string, Map<number, number>>;
  findings: Finding[];
  /** Bull Board's own 4xx bodies, by status and start of the body. */
  boardErrorShapes: Map<string, number>;
  /** Ids of the valid jobs the API accepted. */
  validAccepted: string[];
  /** How many valid jobs the run sent. */
  validSlots: number;
  slowest: { ms: number; request: string };
}

export async function sendFuzzRequests(baseUrl: string, r: RequestSource, options: FuzzOptions): Promise<FuzzTally> {
  const tally = emptyTally();
  const special = planSpecialSlots(r, options.total, options.validJobs);
  tally.validSlots = special.validJobs;
  let next = 0;
  const workers = Array.from({ length: options.concurrency }, async () => {
    for (;;) {
      if (next >= options.total) return;
      const index = next++;
      // Generated on the spot (synchronously, in slot order), so the seed replays the same run.
      await sendOne(baseUrl, r, tally, generate(r, index, special));
    }
  });
  await Promise.all(workers);
  tally.fuzzMs = Date.now() - tally.startedAt;
  await topUp(baseUrl, r, tally, special, options.total);
  return tally;
}

function emptyTally(): FuzzTally {
  return {
    startedAt: Date.now(),
    fuzzMs: 0,
    sent: 0,
    notSendable: 0,
    byStatus: new Map(),
    byCategory: new Map(),
    findings: [],
    boardErrorShapes: new Map(),
    validAccepted: [],
    validSlots: 0,
    slowest: { ms: 0, request: '' },
  };
}

/** Requests fetch could not even send do not count: top up with ones that can be sent. */
async function topUp(baseUrl: string, r: RequestSource, tally: FuzzTally, special: SpecialSlots, total: number): Promise<void> {
  let extra = 0;
  while (tally.sent < total && extra < total) {
    extra += 1;
    await sendOne(baseUrl, r, tally, generate(r, total + extra, special));
  }
}

async function sendOne(baseUrl: string, r: RequestSource, tally: FuzzTally, request: FuzzRequest): Promise<void> {
  try {
    // fetch refuses some header values outright (not HTTP): those requests never leave.
    new Headers(request.headers);
  } catch {
    tally.notSendable += 1;
    return;
  }
  const began = Date.now();
  const answer = await fetchAnswer(baseUrl, request);
  tally.sent += 1;
  if ('error' in answer) {
    count(tally, 'no answer', request.category, 0);
    const problem = `no answer: ${(answer.error as Error).message} ${String((answer.error as { cause?: unknown }).cause ?? '')}`;
    tally.findings.push({ problem, signature: signatureOf(problem, request), request: show(request, r.apiKey) });
    return;
  }
  const ms = Date.now() - began;
  if (ms > tally.slowest.ms) tally.slowest = { ms, request: show(request, r.apiKey).slice(0, 200) };
  count(tally, String(answer.status), request.category, answer.status);
  record(r, tally, request, answer.status, answer.text);
}

async function fetchAnswer(baseUrl: string, request: FuzzRequest): Promise<{ status: number; text: string } | { error: unknown }> {
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    const status = response.status;
    return { status, text: await response.text() };
  } catch (error) {
    return { error };
  }
}

function count(tally: FuzzTally, status: string, category: string, code: number): void {
  tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
  const perCategory = tally.byCategory.get(category) ?? new Map<number, number>();
  perCategory.set(code, (perCategory.get(code) ?? 0) + 1);
  tally.byCategory.set(category, perCategory);
}

/** Files the answer's problems as findings, and notes a Bull Board error shape or an accepted job. */
function record(r: RequestSource, tally: FuzzTally, request: FuzzRequest, status: number, text: string): void {
  const verdict = judgeAnswer(request, status, text, r.apiKey);
  for (const problem of verdict.problems) {
    tally.findings.push({
      problem,
      signature: signatureOf(problem, request, status),
      request: show(request, r.apiKey),
      status,
      response: text.slice(0, 500),
    });
  }
  const shape = verdict.boardErrorShape;
  if (shape !== undefined) tally.boardErrorShapes.set(shape, (tally.boardErrorShapes.get(shape) ?? 0) + 1);
  if (verdict.jobId !== undefined) {
    r.accepted.ids.push(verdict.jobId);
    r.accepted.category.set(verdict.jobId, request.category);
    if (request.expect === 'valid') tally.validAccepted.push(verdict.jobId);
  }
}

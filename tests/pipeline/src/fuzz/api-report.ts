/**
 * The figures a fuzz run prints: requests by status and category, the slowest answer, the accepted
 * jobs and how they ended, Bull Board's own error bodies, and what the API logged for its 5xx.
 */
import type { Stack } from '../stack';
import { jobEvents, type Cleanup } from './api-accepted-jobs';
import type { FuzzTally } from './api-fuzz-run';
import { apiErrorsFromLog, countValues } from './api-oracles';
import type { AcceptedJobs } from './api-request';

const say = (line: string) => process.stdout.write(`[api-fuzz] ${line}\n`);

export function printRunStart(seed: number, total: number, validJobs: number): void {
  say(`seed ${seed} (FUZZ_SEED=${seed} replays it), ${total} requests, ${validJobs} valid jobs`);
}

export async function printRunFigures(stack: Stack, tally: FuzzTally, accepted: AcceptedJobs, cleanup: Cleanup): Promise<void> {
  const totalMs = cleanup.endedAt - tally.startedAt;
  const statusLine = [...tally.byStatus.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
  say(
    `sent ${tally.sent} requests in ${(tally.fuzzMs / 1000).toFixed(1)} s (${tally.notSendable} generated ones fetch refused to send); by status: ${statusLine}`,
  );
  for (const [category, counts] of [...tally.byCategory.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    say(
      `  ${category}: ${[...counts.entries()]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}`,
    );
  }
  say(`slowest answer ${tally.slowest.ms} ms: ${tally.slowest.request}`);
  const cancelAnswers = JSON.stringify(countValues([...cleanup.cancelStatus.values()]));
  const statusBeforeCancel = JSON.stringify(countValues([...cleanup.preCancel.values()]));
  say(
    `accepted ${accepted.ids.length} jobs (${tally.validAccepted.length} of the ${tally.validSlots} valid ones); cancel answers: ${cancelAnswers}; status before cancel: ${statusBeforeCancel}`,
  );
  if (tally.boardErrorShapes.size)
    say(`Bull Board's own 4xx bodies (not {error: {code, message}}): ${JSON.stringify(Object.fromEntries(tally.boardErrorShapes))}`);
  if (!(cleanup.ended instanceof Error)) {
    const finalStatuses = JSON.stringify(countValues(cleanup.ended.map((job: { status: string }) => job.status)));
    const cleanupS = ((Date.now() - tally.startedAt - tally.fuzzMs) / 1000).toFixed(1);
    say(`final job statuses: ${finalStatuses}; clean-up done ${cleanupS} s after the fuzz, ${(totalMs / 1000).toFixed(1)} s in all`);
    await printAcceptedInvalidJobs(stack, accepted, cleanup.ended, cleanup.preCancel);
  }
}

/** The story of every accepted job that was not one of the valid ones (there should be none). */
async function printAcceptedInvalidJobs(stack: Stack, accepted: AcceptedJobs, ended: any[], preCancel: Map<string, string>): Promise<void> {
  for (const job of ended) {
    const category = accepted.category.get(job.id);
    if (category === 'job:valid') continue;
    const events = await jobEvents(stack, job.id);
    const story = events
      .filter((e) => e.type !== 'status')
      .slice(-4)
      .map((e) => `${e.stage}/${e.type}: ${e.message.slice(0, 160)}`)
      .join(' | ');
    const error = job.error ? ` (${job.error.code}: ${String(job.error.message).slice(0, 200)})` : '';
    say(
      `  accepted ${category} job ${job.name ?? job.id}: before cancel ${preCancel.get(job.id)}; now ${job.status}${error}; last events: ${story}`,
    );
  }
}

/** Why the API answered 5xx, from its own log (the body says only "internal_error"). */
export function printApiErrors(log: string): void {
  const apiErrors = apiErrorsFromLog(log);
  if (Object.keys(apiErrors).length) say(`errors the API logged for its 5xx answers: ${JSON.stringify(apiErrors, null, 1)}`);
}

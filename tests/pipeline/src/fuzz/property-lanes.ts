/** Running a property's cases in concurrent lanes, and the line each property prints. */
import fc from 'fast-check';

/**
 * Runs `total` cases of an async property in `lanes` concurrent fc.assert calls (each its own seed,
 * shrinking and report). One SSH call costs ~250 ms of mostly waiting, so lanes keep the suite fast;
 * each lane works in its own files and directories on the host.
 */
export async function assertInLanes<T>(
  lanes: number,
  total: number,
  property: (lane: number) => fc.IAsyncPropertyWithHooks<T>,
): Promise<void> {
  const perLane = Math.ceil(total / lanes);
  const results = await Promise.allSettled(Array.from({ length: lanes }, (_, lane) => fc.assert(property(lane), { numRuns: perLane })));
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) throw failure.reason;
}

/** "[hostile-input] <property>: <cases> cases in <s> s; <extra>" */
export function printPropertySummary(property: string, cases: number, startedAt: number, extra = ''): void {
  process.stdout.write(
    `[hostile-input] ${property}: ${cases} cases in ${((Date.now() - startedAt) / 1000).toFixed(1)} s${extra ? `; ${extra}` : ''}\n`,
  );
}

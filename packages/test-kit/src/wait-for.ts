/**
 * Waiting on a condition with a deadline. Tests and fixtures use this instead of fixed sleeps, so
 * they are as fast as the machine allows and fail with a message that says what never happened.
 */
export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between checks; defaults to 50 ms. */
  intervalMs?: number;
  /** Names the condition in the error thrown at the deadline ("ssh on 127.0.0.21:2222"). */
  description: string;
}

type Falsy = undefined | false | null | 0 | '';

/**
 * Calls `check` until it returns (or resolves to) a truthy value and resolves with that value.
 * A check that throws counts as "not yet"; its error is reported if the deadline passes. A check
 * that hangs is cut off at the deadline, so waitFor never overshoots by more than one interval.
 */
export async function waitFor<T>(check: () => Promise<T | Falsy> | T | Falsy, options: WaitForOptions): Promise<T> {
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + options.timeoutMs;
  let last: { value?: unknown; error?: unknown } = {};
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      const outcome = await withinMs(Promise.resolve().then(check), Math.max(remaining, 1));
      if (outcome.done) {
        if (outcome.value) return outcome.value as T;
        last = { value: outcome.value };
      } else {
        last = { error: new Error('the check itself did not finish before the deadline') };
      }
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) throw new Error(deadlineMessage(options, last));
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(deadline - Date.now(), 0))));
  }
}

async function withinMs<T>(promise: Promise<T>, ms: number): Promise<{ done: true; value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ done: true as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function deadlineMessage(options: WaitForOptions, last: { value?: unknown; error?: unknown }): string {
  const head = `Timed out after ${options.timeoutMs} ms waiting for ${options.description}`;
  if ('error' in last) {
    const error = last.error;
    return `${head}; last check failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return `${head}; last value: ${describe(last.value)}`;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

import type { MetricRecord } from '@inno-train/job-store';
import type { Progress } from '@inno-train/schemas';

/**
 * A line of training output that is a JSON object with a numeric `step` is a metrics record.
 * Returns each such record of `text`, in order, as parsed (every field, numbers or not).
 */
function metricsLines(text: string): Record<string, unknown>[] {
  const found: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      continue;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) continue;
    const record = parsed as Record<string, unknown>;
    if (typeof record.step !== 'number' || !Number.isFinite(record.step)) continue;
    found.push(record);
  }
  return found;
}

/** The record's numeric fields other than `step`, under the names the script printed. */
function numbersOf(record: Record<string, unknown>): [string, number][] {
  return Object.entries(record).filter(
    (entry): entry is [string, number] => entry[0] !== 'step' && typeof entry[1] === 'number' && Number.isFinite(entry[1]),
  );
}

/**
 * Returns the last metrics record in `text` as progress (numbers only; `total_steps` becomes
 * `totalSteps`), or null if there is none.
 */
export function latestProgress(text: string): Progress | null {
  const record = metricsLines(text).at(-1);
  if (!record) return null;
  const progress: Progress = { step: record.step as number };
  for (const [key, value] of numbersOf(record)) progress[key === 'total_steps' ? 'totalSteps' : key] = value;
  return progress;
}

/**
 * Every metrics record in `text`, in order, for the job's metric series: the step and the other
 * numeric fields under their printed names (the series is the script's own data; only `progress`
 * renames `total_steps`). The metrics store bounds and merges them.
 */
export function allProgress(text: string): MetricRecord[] {
  return metricsLines(text).map((record) => ({ step: record.step as number, values: Object.fromEntries(numbersOf(record)) }));
}

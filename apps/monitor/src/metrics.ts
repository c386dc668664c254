import type { Progress } from '@inno-train/schemas';

/**
 * A line of training output that is a JSON object with a numeric `step` is a metrics record.
 * Returns the last such record in `text` as progress (numbers only; `total_steps` becomes
 * `totalSteps`), or null if there is none.
 */
export function latestProgress(text: string): Progress | null {
  let latest: Progress | null = null;
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
    const progress: Progress = { step: record.step };
    for (const [key, value] of Object.entries(record)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || key === 'step') continue;
      progress[key === 'total_steps' ? 'totalSteps' : key] = value;
    }
    latest = progress;
  }
  return latest;
}

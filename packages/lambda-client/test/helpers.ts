/** Largest number of points in any half-open window [t, t + windowMs). */
export function maxInWindow(points: readonly number[], windowMs: number): number {
  const sorted = [...points].sort((a, b) => a - b);
  let best = 0;
  for (let first = 0; first < sorted.length; first += 1) {
    let count = 0;
    while (first + count < sorted.length && sorted[first + count]! - sorted[first]! < windowMs) count += 1;
    best = Math.max(best, count);
  }
  return best;
}

/** Smallest gap between consecutive points. */
export function minGap(points: readonly number[]): number {
  const sorted = [...points].sort((a, b) => a - b);
  let best = Infinity;
  for (let i = 1; i < sorted.length; i += 1) best = Math.min(best, sorted[i]! - sorted[i - 1]!);
  return best;
}

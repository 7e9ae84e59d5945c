/** Order statistics over raw samples (milliseconds), at full resolution. */

/** The value below which `p` percent of the samples fall (nearest rank); NaN for no samples. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export const median = (samples: ArrayLike<number>): number => percentile(samples, 50);

/** Rounds for reports: results files stay small and readable. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

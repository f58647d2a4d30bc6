// Units for the statistics: durations from milliseconds, rates from fractions, bucket widths.

/** "850 ms", "42 s", "3.5 min", "2.1 h"; "—" for no value. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = s / 60;
  if (m < 120) return `${m < 10 ? m.toFixed(1) : Math.round(m)} min`;
  return `${(m / 60).toFixed(1)} h`;
}

/** A fraction 0..1 as "93 %"; between 99 % and 100 % one decimal, rounded down, so 100 % means none failed. "—" for null. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  const pct = rate * 100;
  if (pct >= 99 && pct < 100) return `${(Math.floor(pct * 10) / 10).toFixed(1)} %`;
  return `${Math.round(pct)} %`;
}

/** The CSS class a success rate reads in: alerts fire under 80 % (docs/operations.md). */
export function rateClass(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return 'muted';
  return rate >= 0.95 ? 'ok' : rate >= 0.8 ? 'warn' : 'bad';
}

/** Seconds of a bucket as words for axis labels: "1 min", "24 min", "2.8 h". */
export function bucketWords(seconds: number): string {
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  const h = seconds / 3600;
  return `${Number.isInteger(h) ? h : h.toFixed(1)} h`;
}

/** The unit a set of durations reads best in, with its divisor from ms. */
export function durationUnit(maxMs: number): { unit: string; perMs: number } {
  if (maxMs >= 2 * 3600_000) return { unit: 'h', perMs: 3600_000 };
  if (maxMs >= 120_000) return { unit: 'min', perMs: 60_000 };
  return { unit: 's', perMs: 1000 };
}

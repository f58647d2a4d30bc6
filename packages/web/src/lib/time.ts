// Relative times ("30s ago") and countdowns ("23h 55m") that update on their own: one shared
// ticker, so a table of 1,000 agents schedules one timer, not 1,000.
import { useSyncExternalStore } from 'react';

const listeners = new Set<() => void>();
let now = Date.now();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  if (!timer) {
    // The clock stood still while nothing listened: a page shown later must not start from then.
    now = Date.now();
    timer = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, 1000);
  }
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/**
 * What `read` makes of the current time, re-rendering the caller only when that changes: "5m ago"
 * re-renders once a minute, not every second (a 1,000-agent table stays still while idle).
 */
export function useClock<T extends string | number | boolean>(read: (nowMs: number) => T): T {
  return useSyncExternalStore(subscribe, () => read(now));
}

function span(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

export function relativeTime(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const d = (nowMs - t) / 1000;
  if (d < -1) return `in ${span(-d)}`;
  if (d < 2) return 'just now';
  return `${span(d)} ago`;
}

/** Time left until `iso`: "23h 55m", "4m 10s", "expired". */
export function countdown(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return '—';
  const left = Math.floor((Date.parse(iso) - nowMs) / 1000);
  if (!Number.isFinite(left)) return '—';
  if (left <= 0) return 'expired';
  const d = Math.floor(left / 86400);
  const h = Math.floor((left % 86400) / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

export function absoluteTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isFinite(d.getTime()) ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : iso;
}

// Search boxes ask the server once per pause in typing, not once per key.
import { useEffect, useState } from 'react';

/** How long typing must pause before a search is sent (ms): shorter than a person notices. */
export const SEARCH_PAUSE_MS = 150;

/**
 * `value` once it has stood still for `ms`; an empty value (a cleared box) passes at once.
 * Superseded values are never returned, so no query is made for half-typed terms.
 */
export function useSettled(value: string, ms = SEARCH_PAUSE_MS): string {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    if (value === settled) return;
    const t = setTimeout(() => setSettled(value), value === '' ? 0 : ms);
    return () => clearTimeout(t);
  }, [value, settled, ms]);
  return value === '' ? '' : settled;
}

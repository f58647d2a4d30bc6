// Search boxes ask the server once per pause in typing, not once per key.
import { useEffect, useRef, useState } from 'react';

/** How long typing must pause before a search is sent (ms): shorter than a person notices. */
export const SEARCH_PAUSE_MS = 150;

/**
 * `value` once it has stood still for `ms`; an empty value (a cleared box) passes at once.
 * Superseded values are never returned, so no query is made for half-typed terms. `onSettle`
 * runs as the pause ends, before the render that returns the value: the place to start its request.
 */
export function useSettled(value: string, ms = SEARCH_PAUSE_MS, onSettle?: (value: string) => void): string {
  const [settled, setSettled] = useState(value);
  const onSettleRef = useRef(onSettle);
  onSettleRef.current = onSettle;
  useEffect(() => {
    if (value === settled) return;
    const t = setTimeout(
      () => {
        onSettleRef.current?.(value);
        setSettled(value);
      },
      value === '' ? 0 : ms,
    );
    return () => clearTimeout(t);
  }, [value, settled, ms]);
  return value === '' ? '' : settled;
}

// Work nobody waits for (mirroring filters into the URL, fetching the next page ahead) runs when
// the main thread is idle, after the frame that shows what the person asked for.

/** Runs `fn` when the browser is idle (at the latest after `timeoutMs`); returns a cancel function. */
export function whenIdle(fn: () => void, timeoutMs = 1000): () => void {
  // Safari has no requestIdleCallback: a timer after the current frame's work stands in.
  if (typeof requestIdleCallback !== 'function') {
    const t = setTimeout(fn, 50);
    return () => clearTimeout(t);
  }
  const id = requestIdleCallback(fn, { timeout: timeoutMs });
  return () => cancelIdleCallback(id);
}

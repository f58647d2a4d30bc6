// SIGTERM / SIGINT for `dc-agent run`: the first stops taking work and starts the wind-down; a
// later one aborts running work now. A signal within REPEAT_WINDOW_MS of the first is the same
// request delivered twice (a signal sent to the process group reaches the agent once from the
// sender and once more through a wrapper or terminal that forwards it), so it is ignored rather
// than taken as "abort now".
import type { Logger } from '../log.js';

export const REPEAT_WINDOW_MS = 1000;

export interface SignalControls {
  /** Fires on the first signal: stop taking work, let running work finish within the grace. */
  stop: AbortController;
  /** Fires on a later signal: abort running work now (it is still torn down and released). */
  force: AbortController;
  log: Logger;
  /** Milliseconds clock; tests pass their own. */
  now?: () => number;
}

export function signalHandler(c: SignalControls): (sig: NodeJS.Signals) => void {
  const now = c.now ?? Date.now;
  let firstAt = 0;
  return (sig) => {
    if (!c.stop.signal.aborted) {
      firstAt = now();
      c.log.info('agent.signal', `${sig}: stopping (another signal more than ${REPEAT_WINDOW_MS / 1000} s from now aborts running work)`, { signal: sig });
      c.stop.abort();
      return;
    }
    if (c.force.signal.aborted) return;
    if (now() - firstAt < REPEAT_WINDOW_MS) {
      c.log.info('agent.signal', `${sig} again within ${REPEAT_WINDOW_MS / 1000} s: the same stop delivered twice (process-group signal); still winding down`, { signal: sig, repeated: true });
      return;
    }
    c.log.warn('agent.signal', `${sig} again: aborting running work`, { signal: sig });
    c.force.abort();
  };
}
